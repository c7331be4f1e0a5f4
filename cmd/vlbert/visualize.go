package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/report"
)

// visualizeOptions are the flags of `vlbert visualize`.
type visualizeOptions struct {
	inferFlags
	text, out, npyOut, title string
	saveDir                  string // data set dump directory (--save-dir, or --out when set)
}

func init() {
	register(&command{name: "visualize", summary: "attention maps of one input as a self-contained HTML page and an .npy",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var o visualizeOptions
			fs := newFlagSet("visualize", stderr)
			o.registerModel(fs)
			o.registerInput(fs)
			fs.StringVar(&o.text, "text", "", "caption (pretraining checkpoint) or question (VQA checkpoint)")
			fs.StringVar(&o.text, "question", "", "alias of --text")
			fs.StringVar(&o.out, "out", "attention.html", "HTML page to write")
			fs.StringVar(&o.npyOut, "npy", "", "raw attention [layers, heads, L, L] float32 .npy to write (default: next to --out)")
			fs.StringVar(&o.title, "title", "", "page title")
			fs.StringVar(&o.saveDir, "save-dir", "", "alias of --out for the data set dump (the original script's flag)")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert visualize --ckpt C [--cfg CFG] --text T (--features F [--image I] | --image I --boxes B) [--out page.html] [--npy attn.npy]")
				fmt.Fprintln(stderr, "       vlbert visualize --cfg cfgs/pretrain/vis_attention_maps_coco.yaml --ckpt C [--out DIR]")
				fmt.Fprintln(stderr, "\nThe second form is the original pretrain/vis_attention_maps.py: with a config of MODULE")
				fmt.Fprintln(stderr, "ResNetVLBERTForAttentionVis (DATASET coco_captions) and no --text, every image of the")
				fmt.Fprintln(stderr, "validation set is run and DIR/attention_probs/<image_id>.npy (float32 [layers, heads, L, L])")
				fmt.Fprintln(stderr, "written, with DIR/html/<image_id>.html beside; DIR defaults to ./attention_maps.")
				fmt.Fprintln(stderr, "\nRuns one input and writes every layer's and head's attention: an HTML page that needs")
				fmt.Fprintln(stderr, "no network (text→text, text→region, region→text and region→region blocks, min-max")
				fmt.Fprintln(stderr, "rescaled per layer as the original notebook, a layer/head selector, the boxes drawn on")
				fmt.Fprintln(stderr, "the image) and the raw probabilities as .npy, as the original vis_attention_maps writes.")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.text == "" && o.features == "" && o.image == "" && o.cfg != "" {
				if err := o.check("visualize", false); err != nil {
					return err
				}
				dir := o.saveDir
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "out" && dir == "" {
						dir = o.out
					}
				})
				if dir == "" {
					dir = "./attention_maps"
				}
				p, err := o.load(1)
				if err != nil {
					return err
				}
				if p.Config.Module != attentionVisModule && p.Config.Dataset().Dataset != "coco_captions" {
					return usagef("visualize: without --text the config must be the attention-map dump (MODULE %s), not MODULE %s", attentionVisModule, p.Config.Module)
				}
				return runVisualizeDataset(ctx, p, dir, stdout, stderr)
			}
			if err := o.check("visualize", true); err != nil {
				return err
			}
			if o.text == "" {
				return usagef("visualize: --text is required")
			}
			return runVisualize(ctx, o, stdout)
		}})
}

func runVisualize(ctx context.Context, o visualizeOptions, stdout io.Writer) error {
	p, err := o.load(1)
	if err != nil {
		return err
	}
	r, err := o.regions(ctx, p)
	if err != nil {
		return err
	}
	a, err := p.Attention(ctx, o.text, r)
	if err != nil {
		return err
	}
	if o.npyOut == "" {
		o.npyOut = strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".npy"
	}
	if err := npy.WriteFile(o.npyOut, a.NPY()); err != nil {
		return err
	}
	title := o.title
	if title == "" {
		title = "VL-BERT attention: " + o.text
	}
	notes := []string{
		fmt.Sprintf("checkpoint %s (%s), %d layers × %d heads, %d tokens: %d text, %d regions incl. [IMG], [END]",
			filepath.Base(o.ckpt), p.Model.Task, a.Layers, a.Heads, a.L, a.NumText, a.NumRegions),
		"tokens: " + strings.Join(a.Tokens, " "),
	}
	if len(a.Answers) > 0 {
		var s []string
		for _, ans := range a.Answers {
			s = append(s, fmt.Sprintf("%s %.3f", ans.Answer, ans.Score))
		}
		notes = append(notes, "top answers (sigmoid scores): "+strings.Join(s, ", "))
	}
	pg := &report.AttentionPage{Title: title, Notes: notes, Layers: a.Layers, Heads: a.Heads, L: a.L, Probs: a.Probs,
		Tokens: a.Tokens, NumText: a.NumText, NumRegions: a.NumRegions, ImageBox: a.ImageBox,
		ImageW: r.ImageW, ImageH: r.ImageH, Boxes: r.Boxes, BoxLabels: r.Labels}
	if r.Image != nil {
		pg.Image = report.RGB(r.Image.W, r.Image.H, r.Image.Pix)
	}
	err = atomicfile.WriteFile(o.out, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		if err := report.WriteAttentionHTML(bw, pg); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	// The atomic writers create 0600 temp files; a report is for reading.
	for _, f := range []string{o.out, o.npyOut} {
		if err := os.Chmod(f, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s and %s (attention [%d, %d, %d, %d])\n", o.out, o.npyOut, a.Layers, a.Heads, a.L, a.L)
	return nil
}
