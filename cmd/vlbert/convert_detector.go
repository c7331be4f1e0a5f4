package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vlbert/vlbert/internal/detect/importer"
)

// convertDetector handles `vlbert convert` for bottom-up-attention detector
// releases (Caffe .caffemodel, HF frcnn-vg-finetuned pytorch_model.bin with
// its config.yaml beside it, MILVLG bua-caffe-frcn-r101*.pth): the weights
// are mapped onto the canonical names (internal/detect/importer) and written
// as vlbert's detector safetensors with the network sizes and the release's
// flags in the metadata. handled is false for anything that is not a
// detector file, which the checkpoint conversion then handles.
func convertDetector(ctx context.Context, o convertOptions, stdout io.Writer) (handled bool, err error) {
	if importer.Sniff(o.ckpt) == "" {
		return false, nil
	}
	r, err := importer.Load(o.ckpt)
	if err != nil {
		return true, fmt.Errorf("convert: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if err := importer.WriteVlbert(o.out, r); err != nil {
		return true, fmt.Errorf("convert: %w", err)
	}
	fmt.Fprintf(stdout, "detector weights %s", r.Summary())
	fmt.Fprintf(stdout, "wrote %s (%d tensors; load it with --detector %s)\n", o.out, len(r.Weights), o.out)
	return true, nil
}
