package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/vqa"
)

// pickleIMDB writes entries as numpy's np.save(allow_pickle=True) of an object
// array would: the .npy header, then a protocol-2 pickle of
// _reconstruct(ndarray, (0,), b'b') with BUILD (1, (n,), dtype('O8'), False,
// [info, question dicts...]). Enough of numpy's format for the imdb reader.
func pickleIMDB(entries []vqa.Entry, words func(string) []string) []byte {
	var p bytes.Buffer
	str := func(s string) {
		p.WriteByte('X')
		binary.Write(&p, binary.LittleEndian, uint32(len(s)))
		p.WriteString(s)
	}
	num := func(v int64) {
		p.WriteByte('J')
		binary.Write(&p, binary.LittleEndian, int32(v))
	}
	list := func(ss []string) {
		p.WriteString("](")
		for _, s := range ss {
			str(s)
		}
		p.WriteByte('e')
	}
	p.WriteString("\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
	p.WriteString("K\x00\x85C\x01b\x87R") // (0,), b'b', TUPLE3, REDUCE
	p.WriteString("(K\x01")               // MARK, version 1
	num(int64(len(entries) + 1))
	p.WriteString("\x85cnumpy\ndtype\n")
	str("O8")
	p.WriteString("\x89\x88\x87R(K\x03")
	str("|")
	p.WriteString("NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb") // dtype state, BUILD
	p.WriteString("\x89](}(")                                  // fortran False, list, MARK, info dict
	str("dataset_name")
	str("vqa")
	p.WriteByte('u')
	for _, e := range entries {
		p.WriteString("}(")
		str("image_id")
		num(e.ImageID)
		str("question_id")
		num(e.QuestionID)
		str("question_tokens")
		list(words(e.Question))
		str("answers")
		list(e.Answers)
		p.WriteByte('u')
	}
	p.WriteString("etb.") // APPENDS, TUPLE (state), BUILD, STOP
	header := fmt.Sprintf("{'descr': '|O', 'fortran_order': False, 'shape': (%d,), }", len(entries)+1)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var out bytes.Buffer
	out.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&out, binary.LittleEndian, uint16(len(header)))
	out.WriteString(header)
	out.Write(p.Bytes())
	return out.Bytes()
}

// TestVQAUseIMDB trains VQA with DATASET.USE_IMDB (the original's default): the
// world's questions written as pythia imdb files (words without punctuation, as
// pythia tokenizes), read back with the same ids, and the model trains on them.
func TestVQAUseIMDB(t *testing.T) {
	dir := e2eVQAWorld(t) // a view of the world we may add files to
	imdbDir := filepath.Join(dir, "vqa", "vqa_imdb")
	// vqa/ is a link into the shared world: replace it by a directory of links.
	os.Remove(filepath.Join(dir, "vqa"))
	if err := os.MkdirAll(imdbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(worldDir, "vqa", "*"))
	for _, f := range files {
		if err := os.Symlink(f, filepath.Join(dir, "vqa", filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	words := func(q string) []string {
		return strings.Fields(strings.Map(func(r rune) rune {
			if r == '?' || r == ',' || r == '.' {
				return ' '
			}
			return r
		}, strings.ToLower(q)))
	}
	cat := vqa.Catalog{DataPath: worldDir}
	want := map[string][]vqa.Entry{}
	for _, set := range []string{"train2014", "val2014"} {
		es, err := cat.LoadEntries(set, false, false)
		if err != nil {
			t.Fatal(err)
		}
		want[set] = es
		if err := os.WriteFile(filepath.Join(imdbDir, "imdb_"+set+".npy"), pickleIMDB(es, words), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := vqa.Catalog{DataPath: dir}.LoadIMDBEntries("val2014", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want["val2014"]) || got[0].QuestionID != want["val2014"][0].QuestionID || got[0].Question != strings.Join(words(want["val2014"][0].Question), " ") {
		t.Fatalf("imdb entries %+v, want those of %+v", got[:1], want["val2014"][:1])
	}
	cfg := tinyConfig(t, "vqa", dir, t.TempDir(), "DATASET.USE_IMDB=true", "TRAIN.END_EPOCH=1")
	res := run(t, context.Background(), cfg, Options{})
	if l := trainLosses(t, res.OutputDir); len(l) == 0 || math.IsNaN(l[len(l)-1]) {
		t.Fatalf("losses %v", l)
	}
}
