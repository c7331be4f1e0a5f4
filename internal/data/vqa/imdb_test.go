package vqa

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParseIMDB reads a pythia imdb written by numpy (testdata/gen_imdb.py): the
// info element is skipped, numpy and Python integers both read, the question is
// the tokens joined by spaces, answers are kept as written.
func TestParseIMDB(t *testing.T) {
	b, err := os.ReadFile("testdata/imdb_small.npy")
	if err != nil {
		t.Fatal(err)
	}
	es, err := ParseIMDB(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("%d entries, want 2", len(es))
	}
	if e := es[0]; e.ImageID != 42 || e.QuestionID != 42001 || e.Question != "what is left of the cat" || len(e.Answers) != 10 || e.Answers[9] != "puppy" {
		t.Errorf("entry 0: %+v", e)
	}
	if e := es[1]; e.ImageID != 73 || e.QuestionID != 73002 || !slices.Equal(e.Answers[:2], []string{"2", "two"}) {
		t.Errorf("entry 1: %+v", e)
	}
	test, err := ParseIMDB(b, true)
	if err != nil || test[0].Answers != nil {
		t.Errorf("test mode: %v, answers %v", err, test[0].Answers)
	}
	for _, bad := range []struct {
		b    []byte
		want string
	}{
		{[]byte("nope"), "not a .npy"},
		{b[:len(b)-20], "unpickling"},
		{[]byte(strings.Replace(string(b), "|O", "<f", 1)), "object array"},
	} {
		if _, err := ParseIMDB(bad.b, false); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("err = %v, want %q", err, bad.want)
		}
	}
}

// TestIMDBImageSets: USE_IMDB knows only the original's four imdb image sets.
func TestIMDBImageSets(t *testing.T) {
	c := Catalog{DataPath: t.TempDir()}
	if _, err := c.LoadIMDBEntries("valminusminival2014", false, false); err == nil || !strings.Contains(err.Error(), "no imdb") {
		t.Errorf("err = %v", err)
	}
	if _, err := c.LoadIMDBEntries("val2014", false, false); err == nil || !strings.Contains(err.Error(), "imdb_val2014.npy") {
		t.Errorf("missing file: err = %v", err)
	}
}

// FuzzParseIMDB: any bytes give entries or an error, never a panic.
func FuzzParseIMDB(f *testing.F) {
	b, err := os.ReadFile("testdata/imdb_small.npy")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:200])
	f.Add([]byte("\x93NUMPY\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseIMDB(data, false)
	})
}
