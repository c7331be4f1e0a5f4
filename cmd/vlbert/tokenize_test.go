package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type tokenizeOutput struct {
	Tokens []string `json:"tokens"`
	IDs    []int    `json:"ids"`
}

func decodeTokenizeOutput(t *testing.T, out []byte) []tokenizeOutput {
	t.Helper()
	var res []tokenizeOutput
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		var o tokenizeOutput
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("output line %d %q: %v", i+1, line, err)
		}
		if o.Tokens == nil || o.IDs == nil {
			t.Fatalf("output line %d %q: tokens and ids must be arrays", i+1, line)
		}
		res = append(res, o)
	}
	return res
}

// TestTokenizeGoldenJSONL feeds the 41 golden texts as JSON lines and compares both the
// uncased and the --cased output with the original BertTokenizer's.
func TestTokenizeGoldenJSONL(t *testing.T) {
	data, err := os.ReadFile("../../testdata/golden/tokenizer_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Text        string   `json:"text"`
			Tokens      []string `json:"tokens"`
			IDs         []int    `json:"ids"`
			TokensCased []string `json:"tokens_do_lower_case_false"`
			IDsCased    []int    `json:"ids_do_lower_case_false"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for _, c := range g.Cases {
		b, _ := json.Marshal(c.Text)
		in.Write(append(b, '\n'))
	}
	for _, cased := range []bool{false, true} {
		var out bytes.Buffer
		if err := runTokenize(context.Background(), tokenizeOptions{JSONL: true, Cased: cased}, bytes.NewReader(in.Bytes()), &out); err != nil {
			t.Fatal(err)
		}
		res := decodeTokenizeOutput(t, out.Bytes())
		if len(res) != len(g.Cases) {
			t.Fatalf("cased=%v: %d outputs for %d inputs", cased, len(res), len(g.Cases))
		}
		for i, c := range g.Cases {
			wantTok, wantIDs := c.Tokens, c.IDs
			if cased {
				wantTok, wantIDs = c.TokensCased, c.IDsCased
			}
			if !reflect.DeepEqual(res[i].Tokens, append([]string{}, wantTok...)) || !reflect.DeepEqual(res[i].IDs, append([]int{}, wantIDs...)) {
				t.Errorf("cased=%v case %d %q:\n got %q %v\nwant %q %v", cased, i, c.Text, res[i].Tokens, res[i].IDs, wantTok, wantIDs)
			}
		}
	}
}

func TestTokenizePlainLines(t *testing.T) {
	var out bytes.Buffer
	in := "Hello, world!\r\n\nunaffable" // CRLF, an empty line, no final newline
	if err := runTokenize(context.Background(), tokenizeOptions{}, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	res := decodeTokenizeOutput(t, out.Bytes())
	want := []tokenizeOutput{
		{[]string{"hello", ",", "world", "!"}, []int{7592, 1010, 2088, 999}},
		{[]string{}, []int{}},
		{[]string{"una", "##ffa", "##ble"}, []int{14477, 20961, 3468}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %+v\nwant %+v", res, want)
	}
	if strings.Contains(out.String(), `\u003c`) {
		t.Error("HTML escaping should be off")
	}
}

func TestTokenizeVocabFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vocab.txt")
	if err := os.WriteFile(path, []byte("[PAD]\n[UNK]\nhello\n##lo\nhel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runTokenize(context.Background(), tokenizeOptions{Vocab: path, Cased: true}, strings.NewReader("hello Hello hello\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `{"tokens":["hello","[UNK]","hello"],"ids":[2,1,2]}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	err := runTokenize(context.Background(), tokenizeOptions{Vocab: filepath.Join(t.TempDir(), "missing.txt")}, strings.NewReader("x"), &out)
	if err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing vocab: err = %v", err)
	}
}

func TestTokenizeErrors(t *testing.T) {
	var out bytes.Buffer
	err := runTokenize(context.Background(), tokenizeOptions{JSONL: true}, strings.NewReader("\"ok\"\n\"ok\"\nnot json\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad JSON line: err = %v, want one naming line 3", err)
	}
	err = runTokenize(context.Background(), tokenizeOptions{JSONL: true}, strings.NewReader("42\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("non-string JSON: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runTokenize(ctx, tokenizeOptions{}, strings.NewReader("a\n"), &out); err == nil {
		t.Error("cancelled context ignored")
	}
}

func TestTokenizeLongLines(t *testing.T) {
	// A 1 MB line is far over bufio.Scanner's 64 KB default and must work.
	long := strings.Repeat("the ", 256<<10)
	var out bytes.Buffer
	if err := runTokenize(context.Background(), tokenizeOptions{}, strings.NewReader(long+"\nthe\n"), &out); err != nil {
		t.Fatal(err)
	}
	res := decodeTokenizeOutput(t, out.Bytes())
	if len(res) != 2 || len(res[0].Tokens) != 256<<10 || len(res[1].Tokens) != 1 {
		t.Fatalf("got %d outputs", len(res))
	}
	// Past the limit: a clear error naming the line.
	r := bufio.NewReaderSize(strings.NewReader("ab\n"+strings.Repeat("x", 100)+"\r\n"), 16)
	if line, err := readLine(r, 100); err != nil || string(line) != "ab" {
		t.Fatalf("readLine = %q, %v", line, err)
	}
	if line, err := readLine(r, 100); err != nil || len(line) != 100 {
		t.Fatalf("100-byte line at limit 100: %d bytes, %v", len(line), err)
	}
	r = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 101)+"\n"), 16)
	if _, err := readLine(r, 100); err == nil || !strings.Contains(err.Error(), "longer than 100") {
		t.Errorf("101-byte line: err = %v", err)
	}
	r = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 101)), 16)
	if _, err := readLine(r, 100); err == nil {
		t.Error("101-byte last line without newline accepted")
	}
}
