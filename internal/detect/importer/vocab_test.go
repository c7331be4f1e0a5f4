package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVocab(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range NumVGObjects {
		lines = append(lines, map[bool]string{true: "stop sign,stopsign", false: "obj" + string(rune('a'+i%26))}[i == 1])
	}
	objPath := filepath.Join(dir, "objects_vocab.txt")
	os.WriteFile(objPath, []byte(strings.Join(lines, "\n")), 0o644) // no final newline, as released
	v, err := ReadObjectsVocab(objPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Names) != NumVGObjects+1 || v.Name(0) != Background || v.Name(2) != "stop sign" ||
		len(v.Synonyms[2]) != 2 || v.Synonyms[2][1] != "stopsign" || v.Name(1) != "obja" || v.Name(5000) != "#5000" {
		t.Errorf("names %v ... synonyms %v", v.Names[:3], v.Synonyms[2])
	}
	var nilVocab *Vocab
	if nilVocab.Name(3) != "#3" {
		t.Error("nil vocab")
	}
	os.WriteFile(filepath.Join(dir, "attributes_vocab.txt"), []byte(strings.Repeat("red,reddish\r\n", 399)), 0o644)
	_, _, err = VocabsBeside(dir, NumVGObjects+1, NumVGAttributes+1)
	if err == nil || !strings.Contains(err.Error(), "399 entries, want 400") || !strings.Contains(err.Error(), "attributes_vocab.txt") {
		t.Errorf("short attributes: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "attributes_vocab.txt"), []byte(strings.Repeat("red,reddish\r\n", 400)), 0o644)
	o, a, err := VocabsBeside(dir, NumVGObjects+1, NumVGAttributes+1)
	if err != nil || o.Name(2) != "stop sign" || a.Name(400) != "red" || a.Name(0) != NoAttribute {
		t.Errorf("%v %v", a.Names[:2], err)
	}
	if _, err := ReadAttributesVocab(filepath.Join(dir, "nope.txt")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("absent: %v", err)
	}
	if _, err := ParseVocab([]byte("a\n\nb\n"), "v.txt", 0, Background); err == nil || !strings.Contains(err.Error(), "v.txt line 2 is empty") {
		t.Errorf("empty line: %v", err)
	}
}

func FuzzParseVocab(f *testing.F) {
	f.Add([]byte("yolk\ngoal\nstop sign,stopsign"))
	f.Add([]byte("a,\n,b\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVocab(b, "fuzz.txt", 0, Background)
		if err != nil {
			return
		}
		if len(v.Names) != len(v.Synonyms) || v.Names[0] != Background {
			t.Fatalf("inconsistent vocab %v", v.Names)
		}
		for i := 1; i < len(v.Names); i++ {
			if v.Names[i] == "" || v.Names[i] != v.Synonyms[i][0] {
				t.Fatalf("entry %d: %q %q", i, v.Names[i], v.Synonyms[i])
			}
		}
	})
}
