package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// goldenCase is one entry of testdata/golden/tokenizer_golden.json, produced by the
// original BertTokenizer over bert-base-uncased vocab.txt.
type goldenCase struct {
	Text        string   `json:"text"`
	Tokens      []string `json:"tokens"`
	IDs         []int    `json:"ids"`
	BasicTokens []string `json:"basic_tokens"`
	TokensCased []string `json:"tokens_do_lower_case_false"`
	IDsCased    []int    `json:"ids_do_lower_case_false"`
}

func loadGolden(t testing.TB) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("../../testdata/golden/tokenizer_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Vocab string       `json:"vocab"`
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Vocab, "vocab.txt") {
		t.Fatalf("golden computed with %q, want vocab.txt (bert-base-uncased)", g.Vocab)
	}
	if len(g.Cases) != 41 {
		t.Fatalf("golden has %d cases, want 41", len(g.Cases))
	}
	return g.Cases
}

// nilIfEmpty lets an empty golden list compare equal to a nil result.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestGolden(t *testing.T) {
	uncased, cased := Default(true), Default(false)
	for i, c := range loadGolden(t) {
		if got := uncased.BasicTokenize(c.Text); !reflect.DeepEqual(nilIfEmpty(got), nilIfEmpty(c.BasicTokens)) {
			t.Errorf("case %d %q: basic tokens\n got %q\nwant %q", i, c.Text, got, c.BasicTokens)
		}
		for _, v := range []struct {
			name   string
			tok    *Tokenizer
			tokens []string
			ids    []int
		}{{"uncased", uncased, c.Tokens, c.IDs}, {"cased", cased, c.TokensCased, c.IDsCased}} {
			got := v.tok.Tokenize(c.Text)
			if !reflect.DeepEqual(nilIfEmpty(got), nilIfEmpty(v.tokens)) {
				t.Errorf("case %d %q %s: tokens\n got %q\nwant %q", i, c.Text, v.name, got, v.tokens)
				continue
			}
			ids, err := v.tok.ConvertTokensToIDs(got)
			if err != nil {
				t.Errorf("case %d %s: %v", i, v.name, err)
				continue
			}
			if !reflect.DeepEqual(nilIfEmpty(ids), nilIfEmpty(v.ids)) {
				t.Errorf("case %d %q %s: ids\n got %v\nwant %v", i, c.Text, v.name, ids, v.ids)
			}
			encTokens, encIDs := v.tok.Encode(c.Text)
			if !reflect.DeepEqual(encTokens, got) || !reflect.DeepEqual(nilIfEmpty(encIDs), nilIfEmpty(ids)) {
				t.Errorf("case %d %s: Encode disagrees with Tokenize+ConvertTokensToIDs", i, v.name)
			}
		}
	}
}

func TestDefaultVocab(t *testing.T) {
	tok := Default(true)
	if n := tok.VocabSize(); n != 30522 {
		t.Fatalf("VocabSize = %d, want 30522", n)
	}
	for token, want := range map[string]int{PadToken: 0, UnkToken: 100, ClsToken: 101, SepToken: 102, MaskToken: 103, "the": 1996, "##s": 2015} {
		if id, ok := tok.ID(token); !ok || id != want {
			t.Errorf("ID(%q) = %d, %v; want %d", token, id, ok, want)
		}
		if got := tok.Token(want); got != token {
			t.Errorf("Token(%d) = %q, want %q", want, got, token)
		}
	}
	if _, ok := tok.ID("Hello"); ok {
		t.Error(`uncased vocab should not contain "Hello"`)
	}
}

func TestNew(t *testing.T) {
	// \r, \r\n and \n all end lines; surrounding whitespace is stripped; a duplicate maps to
	// its last line, as Python's dict assignment does.
	tok, err := New(strings.NewReader("[PAD]\r[UNK]\r\n  un \n##aff\t\n##able\nun"), true)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 6 {
		t.Fatalf("VocabSize = %d, want 6", tok.VocabSize())
	}
	if id, _ := tok.ID("un"); id != 5 {
		t.Errorf(`ID("un") = %d, want 5 (last duplicate)`, id)
	}
	if got := tok.Tokenize("UNAFFABLE unable aff"); !reflect.DeepEqual(got, []string{"un", "##aff", "##able", "un", "##able", "[UNK]"}) {
		t.Errorf("Tokenize = %q", got)
	}
	if _, err := New(strings.NewReader("a\nb\n"), true); err == nil || !strings.Contains(err.Error(), "[UNK]") {
		t.Errorf("vocab without [UNK]: err = %v", err)
	}
	if _, err := New(strings.NewReader("[UNK]\n\xff\n"), true); err == nil {
		t.Error("invalid UTF-8 vocab accepted")
	}
}

func TestWordPiece(t *testing.T) {
	tok := Default(true)
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"playing", []string{"playing"}},
		{"bertology", []string{"bert", "##ology"}},
		{"", nil},
		{"  the  cat ", []string{"the", "cat"}},
		{strings.Repeat("a", 100), nil}, // checked below: 100 chars is allowed
		{strings.Repeat("a", 101), []string{"[UNK]"}},
		{strings.Repeat("é", 101), []string{"[UNK]"}}, // the limit counts code points
		{"the\u2603", []string{"[UNK]"}},              // a snowman piece is missing: the whole word is [UNK]
	} {
		got := tok.WordPiece(c.in)
		if c.in == strings.Repeat("a", 100) {
			if len(got) == 0 || got[0] == UnkToken {
				t.Errorf("100-char word gave %q, want pieces", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("WordPiece(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPythonLower(t *testing.T) {
	for in, want := range map[string]string{
		"ΟΔΟΣ":   "οδος",   // final sigma
		"ΣΑΣ":    "σας",    // initial sigma is not final
		"Σ":      "σ",      // lone sigma: nothing cased before it
		"ΟΔΟΣ'Α": "οδοσ'α", // a cased letter follows after a case-ignorable
		"ΟΔΟΣ.":  "οδος.",
		"İ":      "i\u0307",
		"ÅBC":    "åbc",
	} {
		if got := pyLower(in); got != want {
			t.Errorf("pyLower(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBasicEdgeCases(t *testing.T) {
	tok := Default(true)
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"a\u2028b\u2029c", []string{"a", "b", "c"}}, // Python's split() splits on Zl/Zp
		{"\xffab\xfe", []string{"ab"}},               // invalid bytes act as U+FFFD and vanish
		{"x\U000E0001y", []string{"xy"}},             // Cf dropped
		{"x\U0010FFFEy", []string{"xy"}},             // unassigned (Cn) dropped
		{"x\uE000y", []string{"xy"}},                 // private use (Co) dropped
		{"[CLS][SEP]", []string{"[", "cls", "]", "[", "sep", "]"}},
		{"\u0301", nil}, // only a combining mark: stripped to nothing
		{"a^b`c$d", []string{"a", "^", "b", "`", "c", "$", "d"}},
	} {
		got := tok.BasicTokenize(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("BasicTokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	cased := Default(false)
	if got := cased.BasicTokenize("[CLS] É [MASK]x"); !reflect.DeepEqual(got, []string{"[CLS]", "É", "[", "MASK", "]", "x"}) {
		t.Errorf("cased BasicTokenize = %q", got)
	}
}

func TestConvert(t *testing.T) {
	tok := Default(true)
	if _, err := tok.ConvertTokensToIDs([]string{"the", "NoSuchToken"}); err == nil || !strings.Contains(err.Error(), "NoSuchToken") {
		t.Errorf("unknown token: err = %v", err)
	}
	toks, err := tok.ConvertIDsToTokens([]int{101, 1996, 102})
	if err != nil || !reflect.DeepEqual(toks, []string{"[CLS]", "the", "[SEP]"}) {
		t.Errorf("ConvertIDsToTokens = %q, %v", toks, err)
	}
	if _, err := tok.ConvertIDsToTokens([]int{30522}); err == nil {
		t.Error("out-of-range id accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("Token(-1) did not panic")
		}
	}()
	tok.Token(-1)
}

func FuzzTokenize(f *testing.F) {
	for _, c := range loadGolden(f) {
		f.Add(c.Text, true)
	}
	f.Add("ΟΔΟΣ İ \u2028 [MASK] \xff", false)
	uncased, cased := Default(true), Default(false)
	f.Fuzz(func(t *testing.T, text string, lower bool) {
		tok := cased
		if lower {
			tok = uncased
		}
		for _, b := range tok.BasicTokenize(text) {
			if b == "" || strings.IndexFunc(b, isPySpace) >= 0 || !utf8.ValidString(b) {
				t.Fatalf("bad basic token %q from %q", b, text)
			}
		}
		tokens, ids := tok.Encode(text)
		if len(ids) != len(tokens) {
			t.Fatalf("%d ids for %d tokens", len(ids), len(tokens))
		}
		for i, tk := range tokens {
			id, ok := tok.ID(tk)
			if !ok || id != ids[i] || tok.Token(id) != tk {
				t.Fatalf("token %q (id %d) does not round-trip", tk, ids[i])
			}
		}
	})
}

func BenchmarkTokenize(b *testing.B) {
	tok := Default(true)
	text := "What color is the umbrella that the woman in the Café is holding? Antidisestablishmentarianism!"
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Tokenize(text)
	}
}
