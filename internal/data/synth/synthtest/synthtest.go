// Package synthtest gives tests a synthetic world (internal/data/synth) with
// region features, without training a detector: fixture features made from
// each object's labels and box, deterministic and cheap. They are test
// fixtures, not a detector: `vlbert demo` reads the features its trained
// detector extracts from the pixels (internal/demo).
package synthtest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/detect/output"
)

// FeatureDim is the width of the fixture features: the bottom-up-attention
// pool5 width that vlbert's models take by default.
const FeatureDim = 2048

// Feature is the fixture feature of o in a side x side image: one-hot shape,
// colour and size and the box's normalised centre and side, tiled to dim
// values (so every dimension carries a label, as a trained backbone's
// features would).
func Feature(o synth.Object, side, dim int) []float32 {
	base := make([]float32, 0, len(synth.Shapes)+len(synth.Colors)+len(synth.Sizes)+3)
	onehot := func(k, n int) {
		for i := 0; i < n; i++ {
			base = append(base, map[bool]float32{true: 1}[i == k])
		}
	}
	onehot(o.Shape, len(synth.Shapes))
	onehot(o.Color, len(synth.Colors))
	onehot(o.Size, len(synth.Sizes))
	s := float32(max(side, 1))
	base = append(base, (o.Box[0]+o.Box[2])/(2*s), (o.Box[1]+o.Box[3])/(2*s), (o.Box[2]-o.Box[0]+1)/s)
	out := make([]float32, dim)
	for i := range out {
		out[i] = base[i%len(base)]
	}
	return out
}

// ClassScores is a fixture class distribution over synth.NumClasses (the
// world's shape-and-colour classes, background first): 0.9 on the object's
// class, the rest spread evenly.
func ClassScores(o synth.Object) []float32 {
	out := make([]float32, synth.NumClasses)
	for c := range out {
		out[c] = 0.1 / float32(synth.NumClasses-1)
	}
	out[o.Class()] = 0.9
	return out
}

// Record is scene s's per-image feature record at its true boxes.
func Record(s synth.Scene) *output.Image {
	rec := &output.Image{ID: fmt.Sprint(s.ID), Width: s.Width, Height: s.Height, NumBoxes: len(s.Objects)}
	for _, o := range s.Objects {
		rec.Boxes = append(rec.Boxes, o.Box[:]...)
		rec.Features = append(rec.Features, Feature(o, s.Width, FeatureDim)...)
		rec.Classes = append(rec.Classes, ClassScores(o)...)
	}
	return rec
}

// WriteFeatures writes every scene's fixture record to the world's feature
// directory (synth.Layout.Features), where pre-training, VQA, grounding and
// (beside the VCR directory) VCR read them.
func WriteFeatures(w *synth.World, dir string) error {
	fdir := filepath.Join(dir, synth.Layout.Features)
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return fmt.Errorf("synthtest: %w", err)
	}
	for _, s := range append(append([]synth.Scene{}, w.Train...), w.Val...) {
		if err := output.WriteJSON(fdir, fmt.Sprint(s.ID), Record(s)); err != nil {
			return fmt.Errorf("synthtest: %w", err)
		}
	}
	return nil
}

// Write writes the world (synth.Write) and its fixture features.
func Write(w *synth.World, dir string) error {
	if err := synth.Write(w, dir); err != nil {
		return err
	}
	return WriteFeatures(w, dir)
}
