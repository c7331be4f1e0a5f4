package vcr

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Categories are the 81 COCO classes as VCR names them (no spaces), indexed as the
// original category_to_idx: __background__ = 0 (used for the whole-image box).
var Categories = [81]string{
	"__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"trafficlight", "firehydrant", "stopsign", "parkingmeter", "bench", "bird", "cat", "dog", "horse",
	"sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
	"suitcase", "frisbee", "skis", "snowboard", "sportsball", "kite", "baseballbat", "baseballglove",
	"skateboard", "surfboard", "tennisracket", "bottle", "wineglass", "cup", "fork", "knife", "spoon",
	"bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hotdog", "pizza", "donut",
	"cake", "chair", "couch", "pottedplant", "bed", "diningtable", "toilet", "tv", "laptop", "mouse",
	"remote", "keyboard", "cellphone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
	"clock", "vase", "scissors", "teddybear", "hairdrier", "toothbrush",
}

var categoryIndex = func() map[string]int {
	m := make(map[string]int, len(Categories))
	for i, c := range Categories {
		m[c] = i
	}
	return m
}()

// GenderNeutralNames replace "person" detections, cycled in this order.
var GenderNeutralNames = [13]string{
	"Casey", "Riley", "Jessie", "Jackie", "Avery", "Jaime", "Peyton", "Kerry", "Jody", "Kendall",
	"Frankie", "Pat", "Quinn",
}

// CategoriesFile is the file in a VCR DATASET_PATH that, when present, replaces the
// 81 COCO classes with the data set's own: one class name a line, the first
// "__background__" (class 0, the whole-image box).
const CategoriesFile = "categories.txt"

// MaxCategories bounds a categories file.
const MaxCategories = 1 << 16

// ReadCategories reads a categories file (see CategoriesFile) and checks it.
func ReadCategories(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vcr: %w", err)
	}
	defer f.Close()
	return ParseCategories(f, path)
}

// ParseCategories reads a categories list from r (name is used in errors): one
// name a line, blank lines and surrounding spaces ignored, the first
// "__background__", names unique and without spaces (VCR object names have none).
func ParseCategories(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	var out []string
	line := 0
	for sc.Scan() {
		line++
		c := strings.TrimSpace(sc.Text())
		if c == "" {
			continue
		}
		if strings.ContainsAny(c, " \t") {
			return nil, fmt.Errorf("vcr: %s:%d: class %q has a space", name, line, c)
		}
		if len(out) == MaxCategories {
			return nil, fmt.Errorf("vcr: %s: more than %d classes", name, MaxCategories)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vcr: %s: %w", name, err)
	}
	if _, err := indexCategories(out); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, name)
	}
	return out, nil
}

// indexCategories maps each class to its index after checking the list.
func indexCategories(cats []string) (map[string]int, error) {
	if len(cats) < 2 || cats[0] != Categories[0] {
		return nil, fmt.Errorf("vcr: a category list needs %q first and at least one class, got %d names", Categories[0], len(cats))
	}
	m := make(map[string]int, len(cats))
	for i, c := range cats {
		if _, dup := m[c]; dup {
			return nil, fmt.Errorf("vcr: class %q listed twice", c)
		}
		m[c] = i
	}
	return m, nil
}

// FeatureDir is where precomputed per-image features of the VCR data in
// datasetPath are read from (a vlbert extension: the original computes VCR's
// region features end to end), one {image}.json per image whose boxes are
// the metadata boxes in order: the VCR directory's own
// vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome when it
// exists (features at VCR's given boxes beside other data sets' detections,
// as `vlbert demo` writes them), else that directory of the COCO data root
// next to it.
func FeatureDir(datasetPath string) string {
	rel := filepath.Join("vgbua_res101_precomputed", "trainval2014_resnet101_faster_rcnn_genome")
	if st, err := os.Stat(filepath.Join(datasetPath, rel)); err == nil && st.IsDir() {
		return filepath.Join(datasetPath, rel)
	}
	return filepath.Join(filepath.Dir(filepath.Clean(datasetPath)), rel)
}

// DataCategories is the object class list of the VCR data in dir: its
// CategoriesFile when present, else nil (the original 81 COCO classes).
func DataCategories(dir string) ([]string, error) {
	path := filepath.Join(dir, CategoriesFile)
	if _, err := os.Stat(path); err == nil {
		return ReadCategories(path)
	}
	return nil, nil
}
