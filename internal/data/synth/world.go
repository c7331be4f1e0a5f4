// Package synth generates vlbert's embedded default data: a small, deterministic
// visual world of coloured shapes on a plain background.
//
// A Scene holds 2-5 objects, each with a shape, a colour, a size and a tight box.
// From scenes the package derives everything the real pipelines read except the
// region features: rendered images, detection labels (classes, attributes, boxes)
// to train a detector on, captions, a text-only corpus, VQA questions with ten
// answers, referring expressions, and four-choice VCR-style questions with
// rationales and given boxes. Write stores them in the original on-disk formats,
// so `vlbert demo` runs through the same readers as real data; the region
// features come from a detector trained on the world's images, as bottom-up
// features come from Faster R-CNN (internal/demo; tests use synthtest's fixtures).
//
// Everything is a pure function of the seed: the same seed gives the same bytes.
package synth

import (
	"fmt"
	"math/rand/v2"
)

// The vocabulary of the world. Class index c = shape*len(Colors) + colour + 1;
// class 0 is the background, as in detector outputs.
var (
	Shapes = []string{"circle", "square", "triangle", "diamond"}
	Colors = []string{"red", "green", "blue", "yellow"}
	Sizes  = []string{"small", "large"}
)

// NumClasses is the length of a region's class-score vector (background included).
var NumClasses = len(Shapes)*len(Colors) + 1

// colorRGB gives each colour's pixel value.
var colorRGB = [][3]uint8{
	{220, 40, 40}, {40, 170, 60}, {50, 80, 220}, {235, 210, 40},
}

// Object is one shape in a scene. Box is (x1, y1, x2, y2) in pixels, inclusive of
// the last covered pixel as in the bottom-up-attention boxes.
type Object struct {
	Shape, Color, Size int
	Box                [4]float32
}

// Class is the detector class index of o (1-based; 0 is background).
func (o Object) Class() int { return o.Shape*len(Colors) + o.Color + 1 }

// Name is the object's full description, e.g. "small red circle".
func (o Object) Name() string {
	return Sizes[o.Size] + " " + Colors[o.Color] + " " + Shapes[o.Shape]
}

// CenterX is the horizontal centre of the box.
func (o Object) CenterX() float32 { return (o.Box[0] + o.Box[2]) / 2 }

// Scene is one image of the world.
type Scene struct {
	ID            int
	Width, Height int
	Objects       []Object
}

// Config sets the size of the generated world.
type Config struct {
	Seed        uint64
	TrainScenes int // scenes for training
	ValScenes   int // held-out scenes for evaluation
	ImageSize   int // square images of ImageSize x ImageSize pixels
	MinObjects  int
	MaxObjects  int
}

// DefaultConfig is the world `vlbert demo` uses.
func DefaultConfig() Config {
	return Config{Seed: 1, TrainScenes: 2000, ValScenes: 200, ImageSize: 96, MinObjects: 2, MaxObjects: 3}
}

// Validate reports a configuration that cannot generate a world.
func (c Config) Validate() error {
	switch {
	case c.TrainScenes < 1 || c.ValScenes < 1:
		return fmt.Errorf("synth: need at least one train and one val scene, got %d and %d", c.TrainScenes, c.ValScenes)
	case c.ImageSize < 32 || c.ImageSize > 1024:
		return fmt.Errorf("synth: image size %d outside [32, 1024]", c.ImageSize)
	case c.MinObjects < 1 || c.MaxObjects < c.MinObjects || c.MaxObjects > 8:
		return fmt.Errorf("synth: object counts [%d, %d] invalid (1 <= min <= max <= 8)", c.MinObjects, c.MaxObjects)
	}
	return nil
}

// World is a generated set of scenes split into train and val.
type World struct {
	Config Config
	Train  []Scene
	Val    []Scene
}

// Generate builds the world for cfg.
func Generate(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	w := &World{Config: cfg}
	for i := 0; i < cfg.TrainScenes+cfg.ValScenes; i++ {
		s := newScene(rng, cfg, i+1)
		if i < cfg.TrainScenes {
			w.Train = append(w.Train, s)
		} else {
			w.Val = append(w.Val, s)
		}
	}
	return w, nil
}

// newScene places objects so that they overlap a little at most: a new box may cover
// at most a quarter of an existing one (and vice versa), so every object stays visible.
func newScene(rng *rand.Rand, cfg Config, id int) Scene {
	s := Scene{ID: id, Width: cfg.ImageSize, Height: cfg.ImageSize}
	n := cfg.MinObjects + rng.IntN(cfg.MaxObjects-cfg.MinObjects+1)
	for tries := 0; len(s.Objects) < n && tries < 200; tries++ {
		o := Object{Shape: rng.IntN(len(Shapes)), Color: rng.IntN(len(Colors)), Size: rng.IntN(len(Sizes))}
		side := float32(cfg.ImageSize) * (0.16 + 0.14*float32(o.Size)) * (0.9 + 0.2*rng.Float32())
		x := rng.Float32() * (float32(cfg.ImageSize) - side - 1)
		y := rng.Float32() * (float32(cfg.ImageSize) - side - 1)
		o.Box = [4]float32{float32(int(x)), float32(int(y)), float32(int(x + side)), float32(int(y + side))}
		if fits(s.Objects, o) {
			s.Objects = append(s.Objects, o)
		}
	}
	return s
}

func fits(objs []Object, o Object) bool {
	for _, p := range objs {
		inter := intersection(p.Box, o.Box)
		if inter > area(p.Box)/4 || inter > area(o.Box)/4 {
			return false
		}
	}
	return true
}

func area(b [4]float32) float32 { return (b[2] - b[0] + 1) * (b[3] - b[1] + 1) }

func intersection(a, b [4]float32) float32 {
	w := min(a[2], b[2]) - max(a[0], b[0]) + 1
	h := min(a[3], b[3]) - max(a[1], b[1]) + 1
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}
