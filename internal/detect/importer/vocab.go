package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Visual Genome vocabulary sizes of the 1600-400-20 release
// (peteanderson80/bottom-up-attention data/genome/1600-400-20/).
const (
	NumVGObjects    = 1600
	NumVGAttributes = 400
)

// Labels at index 0 of the vocabularies: cls_score's background and
// attr_score's "no attribute" (tools/generate_tsv.py skips both).
const (
	Background  = "__background__"
	NoAttribute = "__no_attribute__"
)

// MaxVocabBytes bounds a vocabulary file.
const MaxVocabBytes = 1 << 20

// Vocab is a class or attribute vocabulary indexed as the network's scores
// are: Names[0] is Background / NoAttribute, Names[i] the first synonym of
// line i of the file, Synonyms[i] all of them (lines list synonyms separated
// by commas, e.g. "stop sign,stopsign").
type Vocab struct {
	Names    []string
	Synonyms [][]string
}

// Name returns the label of index i, or "#i" when i is outside the
// vocabulary (or v is nil), so callers can always print something.
func (v *Vocab) Name(i int) string {
	if v == nil || i < 0 || i >= len(v.Names) {
		return fmt.Sprintf("#%d", i)
	}
	return v.Names[i]
}

// ReadVocab reads a vocabulary file of want entries (one per line, the
// last newline optional, CR LF accepted); zero is the label of index 0.
func ReadVocab(path string, want int, zero string) (*Vocab, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("vocabulary: %s not found: the Visual Genome vocabularies ship with the weights "+
				"(bottom-up-attention data/genome/1600-400-20/objects_vocab.txt and attributes_vocab.txt)", path)
		}
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	if st.Size() > MaxVocabBytes {
		return nil, fmt.Errorf("vocabulary: %s is %d bytes, more than %d", path, st.Size(), MaxVocabBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	return ParseVocab(b, path, want, zero)
}

// ParseVocab is ReadVocab over the bytes of a file; name is quoted in
// errors. want <= 0 accepts any length.
func ParseVocab(b []byte, name string, want int, zero string) (*Vocab, error) {
	if len(b) > MaxVocabBytes {
		return nil, fmt.Errorf("vocabulary: %s is %d bytes, more than %d", name, len(b), MaxVocabBytes)
	}
	v := &Vocab{Names: []string{zero}, Synonyms: [][]string{{zero}}}
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimSuffix(b, []byte("\n"))))
	sc.Buffer(make([]byte, 0, 4096), MaxVocabBytes)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			return nil, fmt.Errorf("vocabulary: %s line %d is empty", name, line)
		}
		var syn []string
		for _, s := range strings.Split(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				syn = append(syn, s)
			}
		}
		if len(syn) == 0 {
			return nil, fmt.Errorf("vocabulary: %s line %d has no name: %q", name, line, text)
		}
		v.Names = append(v.Names, syn[0])
		v.Synonyms = append(v.Synonyms, syn)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vocabulary: %s: %w", name, err)
	}
	if want > 0 && line != want {
		return nil, fmt.Errorf("vocabulary: %s has %d entries, want %d (one per line, index 0 = %s is not in the file)", name, line, want, zero)
	}
	return v, nil
}

// ReadObjectsVocab reads objects_vocab.txt: 1600 classes, index 0 background.
func ReadObjectsVocab(path string) (*Vocab, error) {
	return ReadVocab(path, NumVGObjects, Background)
}

// ReadAttributesVocab reads attributes_vocab.txt: 400 attributes, index 0
// "no attribute".
func ReadAttributesVocab(path string) (*Vocab, error) {
	return ReadVocab(path, NumVGAttributes, NoAttribute)
}

// VocabsBeside reads the two vocabularies from dir (the weights' directory):
// objects_vocab.txt / attributes_vocab.txt as bottom-up-attention ships
// them, or objects.txt / attributes.txt as the HF LXMERT demo names them.
// classes and attributes are the network's output sizes (background
// included); a file of another length is an error.
func VocabsBeside(dir string, classes, attributes int) (objects, attrs *Vocab, err error) {
	find := func(names ...string) string {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		return filepath.Join(dir, names[0])
	}
	objects, err = ReadVocab(find("objects_vocab.txt", "objects.txt"), classes-1, Background)
	if err != nil {
		return nil, nil, err
	}
	attrs, err = ReadVocab(find("attributes_vocab.txt", "attributes.txt"), attributes-1, NoAttribute)
	if err != nil {
		return nil, nil, err
	}
	return objects, attrs, nil
}
