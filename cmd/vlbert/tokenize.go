package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

// tokenizeOptions are the flags of "vlbert tokenize".
type tokenizeOptions struct {
	Vocab string // vocabulary file; empty = embedded bert-base-uncased
	Cased bool   // keep case and accents (do_lower_case=False)
	JSONL bool   // each input line is a JSON string instead of raw text
}

// maxTokenizeLine bounds one input line, so a file without newlines cannot exhaust memory.
const maxTokenizeLine = 64 << 20

func init() {
	register(&command{name: "tokenize", summary: "BERT-tokenize text from stdin into JSON lines of tokens and ids",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var opts tokenizeOptions
			fs := newFlagSet("tokenize", stderr)
			fs.StringVar(&opts.Vocab, "vocab", "", "vocabulary `file`, one token per line (default: embedded bert-base-uncased)")
			fs.BoolVar(&opts.Cased, "cased", false, "do not lower-case or strip accents")
			fs.BoolVar(&opts.JSONL, "jsonl", false, "read one JSON string per line (texts may then hold newlines)")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert tokenize [--vocab FILE] [--cased] [--jsonl] < texts")
				fmt.Fprintln(stderr, "\nReads one text per line from standard input and prints one JSON object")
				fmt.Fprintln(stderr, `{"tokens": [...], "ids": [...]} per text.`)
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			return runTokenize(ctx, opts, os.Stdin, stdout)
		}})
}

// runTokenize tokenizes every line of in and writes one JSON object per line to out.
func runTokenize(ctx context.Context, opts tokenizeOptions, in io.Reader, out io.Writer) (err error) {
	tok := tokenizer.Default(!opts.Cased)
	if opts.Vocab != "" {
		f, err := os.Open(opts.Vocab)
		if err != nil {
			return err
		}
		tok, err = tokenizer.New(f, !opts.Cased)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Vocab, err)
		}
	}
	w := bufio.NewWriter(out)
	defer func() {
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
	}()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)

	r := bufio.NewReaderSize(in, 64<<10)
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := readLine(r, maxTokenizeLine)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stdin line %d: %w", lineNo, err)
		}
		text := string(line)
		if opts.JSONL {
			if err := json.Unmarshal(line, &text); err != nil {
				return fmt.Errorf("stdin line %d: want a JSON string: %w", lineNo, err)
			}
		}
		tokens, ids := tok.Encode(text)
		if tokens == nil {
			tokens, ids = []string{}, []int{}
		}
		if err := enc.Encode(struct {
			Tokens []string `json:"tokens"`
			IDs    []int    `json:"ids"`
		}{tokens, ids}); err != nil {
			return err
		}
	}
}

// readLine returns the next line without its "\n" or "\r\n", or io.EOF when the input is
// exhausted. A last line without a newline still counts. Lines longer than limit bytes
// are an error rather than an unbounded allocation.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	tooLong := fmt.Errorf("line longer than %d bytes", limit)
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			if len(line) > limit {
				return nil, tooLong
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line) > limit+1 { // +1: the line may still end in "\r\n"
				return nil, tooLong
			}
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, io.EOF
			}
			if len(line) > limit {
				return nil, tooLong
			}
			return line, nil
		default:
			return nil, err
		}
	}
}
