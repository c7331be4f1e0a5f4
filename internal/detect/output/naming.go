package output

import (
	"path/filepath"
	"strconv"
	"strings"
)

// ImageName returns the stem of an image file and its image_id: the number
// the name ends with, as COCO names carry one (COCO_val2014_000000000042.jpg
// -> "42"; 9.jpg -> "9"), else the stem itself. vlbert's LXMERT reader
// (internal/data/features) takes the same trailing digits from img_id.
func ImageName(path string) (stem, id string) {
	base := filepath.Base(path)
	stem = strings.TrimSuffix(base, filepath.Ext(base))
	k := len(stem)
	for k > 0 && stem[k-1] >= '0' && stem[k-1] <= '9' {
		k--
	}
	if k == len(stem) {
		return stem, stem
	}
	n, err := strconv.ParseInt(stem[k:], 10, 64)
	if err != nil { // more digits than an int64 holds
		return stem, stem
	}
	return stem, strconv.FormatInt(n, 10)
}
