package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/cococap"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/report"
	"github.com/vlbert/vlbert/internal/visual"
)

// attentionVisModule is the original's MODULE of the attention-map dump.
const attentionVisModule = "ResNetVLBERTForAttentionVis"

// runVisualizeDataset is pretrain/vis_attention_maps.py (pretrain/function/vis.py,
// vis): every item of the config's validation image set through the model, each
// item's attention probabilities of every layer and head saved as
// DIR/attention_probs/<image_id>.npy, float32 [num_layers, num_heads, L, L]
// (row = attending token), as np.save writes them; beside each, vlbert's HTML
// view DIR/html/<image_id>.html. Only the coco_captions data set (the original's
// one attention-visualisation config) is read.
func runVisualizeDataset(ctx context.Context, p *infer.Pipeline, dir string, stdout, stderr io.Writer) error {
	cfg := p.Config
	ds := cfg.Dataset()
	switch {
	case ds.Dataset != "coco_captions":
		return fmt.Errorf("visualize: the data set dump reads DATASET.DATASET coco_captions, not %q (give --text for one input)", ds.Dataset)
	case cfg.Network.ImageFeatPrecomputed:
		return fmt.Errorf("visualize: coco_captions has no precomputed features (its precomputed branch asserts in the original); set NETWORK.IMAGE_FEAT_PRECOMPUTED false")
	}
	items, err := cococap.Load(ds.DatasetPath, ds.ValImageSet)
	if err != nil {
		return err
	}
	attDir, htmlDir := filepath.Join(dir, "attention_probs"), filepath.Join(dir, "html")
	for _, d := range []string{attDir, htmlDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	start := time.Now()
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := dumpOne(ctx, p, it, ds.SeqLen, attDir, htmlDir); err != nil {
			return fmt.Errorf("visualize: image %d (%s): %w", it.ImageID, it.ImagePath, err)
		}
		fmt.Fprintf(stderr, "\rvisualize: %d/%d images, %s", i+1, len(items), time.Since(start).Round(time.Second))
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "wrote the attention maps of %d images to %s and their pages to %s\n", len(items), attDir, htmlDir)
	return nil
}

func dumpOne(ctx context.Context, p *infer.Pipeline, it cococap.Item, seqLen int, attDir, htmlDir string) error {
	fh, err := os.Open(it.ImagePath)
	if err != nil {
		return err
	}
	img, err := visual.DecodeImage(fh)
	fh.Close()
	if err != nil {
		return err
	}
	// The original clamps the boxes to the image after the transform.
	boxes := append([]float32(nil), it.Boxes...)
	for k := range boxes {
		lim := float32(img.W - 1)
		if k%2 == 1 {
			lim = float32(img.H - 1)
		}
		boxes[k] = min(max(boxes[k], 0), lim)
	}
	a, r, err := p.CaptionAttention(ctx, it.Caption, img, boxes, seqLen)
	if err != nil {
		return err
	}
	name := strconv.FormatInt(it.ImageID, 10)
	if err := npy.WriteFile(filepath.Join(attDir, name+".npy"), a.NPY()); err != nil {
		return err
	}
	pg := &report.AttentionPage{Title: fmt.Sprintf("VL-BERT attention: image %d: %s", it.ImageID, it.Caption),
		Notes:  []string{fmt.Sprintf("%d layers × %d heads, %d tokens: %d text, %d regions incl. [IMG], [END]", a.Layers, a.Heads, a.L, a.NumText, a.NumRegions)},
		Layers: a.Layers, Heads: a.Heads, L: a.L, Probs: a.Probs, Tokens: a.Tokens, NumText: a.NumText,
		NumRegions: a.NumRegions, ImageBox: a.ImageBox, ImageW: r.ImageW, ImageH: r.ImageH, Boxes: r.Boxes,
		Image: report.RGB(img.W, img.H, img.Pix)}
	page := filepath.Join(htmlDir, name+".html")
	err = atomicfile.WriteFile(page, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		if err := report.WriteAttentionHTML(bw, pg); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	for _, f := range []string{page, filepath.Join(attDir, name+".npy")} {
		if err := os.Chmod(f, 0o644); err != nil {
			return err
		}
	}
	return nil
}
