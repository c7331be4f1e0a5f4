package corpus

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

func TestOpenLines(t *testing.T) {
	c, err := Open("testdata/wiki.doc+testdata/bc1g.doc")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{
		"The quick brown fox jumps over the lazy dog.",
		"It was the best of times, it was the worst of times.",
		"Call me Ishmael.",
		"Some years ago, never mind how long precisely, having little or no money in my purse.",
		"Café crème brûlée is served",
		"In a hole in the ground there lived a hobbit.",
	}
	if c.Len() != len(want) {
		t.Fatalf("%d lines, want %d", c.Len(), len(want))
	}
	for i, w := range want {
		if got, err := c.Line(i); err != nil || got != w {
			t.Errorf("line %d = %q, %v; want %q", i, got, err, w)
		}
	}
	if _, err := c.Line(6); err == nil {
		t.Error("line past the end")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("testdata/wiki.doc+testdata/none.doc"); err == nil || !strings.Contains(err.Error(), "none.doc") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "bad.doc")
	if err := os.WriteFile(p, []byte("fine\nbad \xff byte\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "bad.doc line 2") {
		t.Errorf("invalid utf-8: %v", err)
	}
}

func TestExample(t *testing.T) {
	c, err := Open("testdata/wiki.doc+testdata/bc1g.doc")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok := tokenizer.Default(true)
	d := NewDataset(c, tok)
	cls, _ := tok.ID("[CLS]")
	sep, _ := tok.ID("[SEP]")
	for i := range d.Len() {
		ex, err := d.Example(i, rand.New(rand.NewPCG(uint64(i), 1)))
		if err != nil {
			t.Fatal(err)
		}
		// The corpus has < 64 words a line, so every sample wraps and is cut to 64.
		if len(ex.Text) != 64 || len(ex.MLMLabels) != 64 {
			t.Fatalf("sample %d: %d tokens", i, len(ex.Text))
		}
		if slices.Contains(ex.Text, int64(cls)) || slices.Contains(ex.Text, int64(sep)) {
			// A random replacement could draw them; with these seeds it does not.
			t.Errorf("sample %d has [CLS]/[SEP]", i)
		}
	}
	// Without masking the ids are the wordpieces of line 2 and then lines 3, 4, ...
	d.MLM.Prob = 0
	ex, _ := d.Example(2, rand.New(rand.NewPCG(0, 0)))
	var text []string
	for k := 2; k < 2+8; k++ {
		l, _ := c.Line(k % c.Len())
		text = append(text, l)
	}
	ids, _ := tok.ConvertTokensToIDs(tok.Tokenize(strings.Join(text, " ")))
	for k := range ex.Text {
		if ex.Text[k] != int64(ids[k]) || ex.MLMLabels[k] != -1 {
			t.Fatalf("position %d: id %d want %d (label %d)", k, ex.Text[k], ids[k], ex.MLMLabels[k])
		}
	}
}

func TestExampleNoWords(t *testing.T) {
	p := filepath.Join(t.TempDir(), "punct.doc")
	// A line of control characters survives strip() but has no word.
	if err := os.WriteFile(p, []byte("\x01\x02\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := NewDataset(c, tokenizer.Default(true))
	if _, err := d.Example(0, rand.New(rand.NewPCG(0, 0))); err == nil {
		t.Error("corpus without words should be an error, not a hang")
	}
}

func FuzzOpen(f *testing.F) {
	b, _ := os.ReadFile("testdata/wiki.doc")
	f.Add(b)
	f.Add([]byte("\r\r\n\n x \r"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.doc")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(p)
		if err != nil {
			return
		}
		defer c.Close()
		for i := range c.Len() {
			l, err := c.Line(i)
			lo, hi := stripBounds([]byte(l))
			if err != nil || l == "" || lo != 0 || hi != len(l) {
				t.Fatalf("line %d = %q, %v", i, l, err)
			}
		}
	})
}
