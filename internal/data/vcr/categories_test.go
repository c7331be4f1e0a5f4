package vcr

import (
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

func TestParseCategories(t *testing.T) {
	got, err := ParseCategories(strings.NewReader("__background__\n circle \n\nsquare\n"), "cats.txt")
	if err != nil || strings.Join(got, ",") != "__background__,circle,square" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "circle\n", "__background__\n", "__background__\ncircle\ncircle\n", "__background__\nred circle\n", "__background__\n" + strings.Repeat("x", 5000) + "\n"} {
		if c, err := ParseCategories(strings.NewReader(bad), "cats.txt"); err == nil {
			t.Errorf("%.40q: accepted as %v", bad, c)
		} else if !strings.Contains(err.Error(), "cats.txt") {
			t.Errorf("%.40q: error %v does not name the file", bad, err)
		}
	}
}

// A builder with its own classes: the fixture's COCO objects become
// unknown, and a list that holds them numbers them by its own order.
func TestBuildCustomCategories(t *testing.T) {
	anns, m := loadFixture(t)
	o := DefaultOptions(Q2A)
	o.Categories = []string{"__background__", "circle"}
	if _, err := newBuilder(t, o).Build(&anns[0], m, 640, 360); err == nil || !strings.Contains(err.Error(), CategoriesFile) {
		t.Errorf("COCO objects under a shape list: error %v", err)
	}
	o.Categories = []string{"__background__", "dog", "chair", "person"}
	s, err := newBuilder(t, o).Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	for i, obj := range anns[0].Objects {
		want := map[string]float32{"dog": 1, "chair": 2, "person": 3}[obj]
		if got := s.Boxes[6*(i+1)+5]; got != want {
			t.Errorf("object %d (%s): class %v, want %v", i, obj, got, want)
		}
	}
	// Persons still get gender-neutral names: the name policy keys on "person".
	if s.Queries[0].Tokens[2] != "casey" {
		t.Errorf("question %v", s.Queries[0].Tokens)
	}
	o.Categories = []string{"circle"}
	if _, err := NewBuilder(tokenizer.Default(true), o); err == nil {
		t.Error("a list without __background__ accepted")
	}
}

func FuzzParseCategories(f *testing.F) {
	f.Add("__background__\ncircle\n")
	f.Add("__background__\n\ncircle circle\n")
	f.Fuzz(func(t *testing.T, s string) {
		cats, err := ParseCategories(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		if _, err := indexCategories(cats); err != nil || len(cats) > MaxCategories {
			t.Fatalf("accepted a bad list %q: %v", cats, err)
		}
	})
}
