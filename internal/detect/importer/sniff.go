package importer

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// sniffBytes bounds how much of a file Sniff reads.
const sniffBytes = 16 << 20

// Sniff reports which detector weight format path holds, or "" when it is
// not a detector file (a VL-BERT checkpoint, a BERT model, anything else),
// reading only headers: the safetensors metadata, the pickled key names of
// a torch.save file, or the first protobuf tag of a caffemodel.
// `vlbert convert` uses it to route detector releases to this package.
func Sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return ""
	}
	head := make([]byte, min(st.Size(), sniffBytes))
	if _, err := io.ReadFull(f, head); err != nil {
		return ""
	}
	switch {
	case isSafetensorsHead(head):
		n := binary.LittleEndian.Uint64(head[:8])
		if n > uint64(len(head)-8) {
			return ""
		}
		var h struct {
			Meta map[string]string `json:"__metadata__"`
		}
		if json.Unmarshal(head[8:8+n], &h) == nil && h.Meta[metaFormat] == vlbertDetector {
			return FormatVlbert
		}
		return ""
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return ""
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "data.pkl") {
				rc, err := zf.Open()
				if err != nil {
					return ""
				}
				pkl, _ := io.ReadAll(io.LimitReader(rc, sniffBytes))
				rc.Close()
				return torchKind(pkl)
			}
		}
		return ""
	case head[0] == 0x80:
		return torchKind(head)
	}
	if strings.HasSuffix(strings.ToLower(path), ".caffemodel") {
		return FormatCaffemodel
	}
	// A released caffemodel starts with NetParameter.name (field 1, a short
	// printable string) or directly with its layers (field 100 or 2).
	num, typ, n := protowire.ConsumeTag(head)
	if n <= 0 || typ != protowire.BytesType {
		return ""
	}
	v, m := protowire.ConsumeBytes(head[n:])
	switch {
	case num == 1 && m > 0 && len(v) > 0 && len(v) < 256 && isPrintable(v):
		return FormatCaffemodel
	case (num == netLayer || num == netLayers) && m > 0:
		return FormatCaffemodel
	}
	return ""
}

// torchKind tells the two PyTorch releases apart by the key names in their
// pickle stream.
func torchKind(pkl []byte) string {
	switch {
	case bytes.Contains(pkl, []byte("roi_heads.box_predictor.cls_embedding")):
		return FormatHF
	case bytes.Contains(pkl, []byte("roi_heads.box_predictor.cls_embed")):
		return FormatMILVLG
	}
	return ""
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
