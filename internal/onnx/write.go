package onnx

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/vlbert/vlbert/internal/atomicfile"
)

// InlineLimit is the most initializer bytes Write keeps inside the model file. A
// protobuf message cannot exceed 2 GiB, so bigger models put their weights in
// MODEL.onnx.data (ONNX external data, next to the model) and keep only the small
// constants inline.
const InlineLimit = 1800 << 20

// externalMin is the smallest tensor moved to the data file.
const externalMin = 1024

// Write saves m to path atomically. When the initializers exceed inlineLimit bytes
// (pass InlineLimit), every tensor of at least 1 KiB goes to path + ".data" at
// 4 KiB-aligned offsets, written first, so a model file never names data that is
// not there. m's tensors are updated to point at the data file.
func Write(path string, m *Model, inlineLimit int64) error {
	var total int64
	for _, t := range m.Graph.Initializer {
		total += int64(len(t.RawData))
	}
	if total > inlineLimit {
		dataName := filepath.Base(path) + ".data"
		var moved []*Tensor
		for _, t := range m.Graph.Initializer {
			if len(t.RawData) >= externalMin {
				moved = append(moved, t)
			}
		}
		err := atomicfile.WriteFile(path+".data", func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			var off int64
			pad := make([]byte, 4096)
			for _, t := range moved {
				if r := off % 4096; r != 0 {
					if _, err := bw.Write(pad[:4096-r]); err != nil {
						return err
					}
					off += 4096 - r
				}
				if _, err := bw.Write(t.RawData); err != nil {
					return err
				}
				t.External = []StringStringKV{{"location", dataName}, {"offset", strconv.FormatInt(off, 10)}, {"length", strconv.Itoa(len(t.RawData))}}
				t.InFile = true
				off += int64(len(t.RawData))
				t.RawData = nil
			}
			return bw.Flush()
		})
		if err != nil {
			return fmt.Errorf("onnx: writing %s.data: %w", path, err)
		}
	}
	b := m.Marshal()
	if len(b) > MaxModelBytes {
		return fmt.Errorf("onnx: model of %d bytes exceeds protobuf's 2 GiB limit", len(b))
	}
	if err := atomicfile.WriteFile(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("onnx: writing %s: %w", path, err)
	}
	return nil
}
