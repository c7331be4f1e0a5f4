package output

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/vlbert/vlbert/internal/data/features"
)

// MaxTSVLine bounds one TSV row read back (as internal/data/features).
const MaxTSVLine = features.DefaultMaxTSVLine

// TSVFields are LXMERT's FIELDNAMES (the obj36 TSV columns), in order.
var TSVFields = features.LXMERTFields

// EncodeTSVRow returns im as one LXMERT obj36 row, newline included.
// Classes and Attrs are required: objects_id/conf and attrs_id/conf are
// their argmax/max over the columns after the first.
func EncodeTSVRow(im *Image) ([]byte, error) {
	if err := im.check(); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if im.Classes == nil || im.Attrs == nil {
		return nil, fmt.Errorf("output: image %s: the LXMERT TSV needs class and attribute probabilities", im.ID)
	}
	n := im.NumBoxes
	objID, objConf, err := argmaxAfterFirst("classes", im.Classes, n)
	if err != nil {
		return nil, fmt.Errorf("output: image %s: %w", im.ID, err)
	}
	attrID, attrConf, err := argmaxAfterFirst("attrs", im.Attrs, n)
	if err != nil {
		return nil, fmt.Errorf("output: image %s: %w", im.ID, err)
	}
	name := im.Name
	if name == "" {
		name = im.ID
	}
	if bytes.ContainsAny([]byte(name), "\t\r\n") {
		return nil, fmt.Errorf("output: image name %q contains a tab or newline", name)
	}
	var b bytes.Buffer
	for i, col := range []string{
		name, strconv.Itoa(im.Height), strconv.Itoa(im.Width),
		int64Base64(objID), float32Base64(objConf), int64Base64(attrID), float32Base64(attrConf),
		strconv.Itoa(n), float32Base64(im.Boxes), float32Base64(im.Features),
	} {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(col)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// argmaxAfterFirst returns, per row, the index (minus one) and value of the
// largest entry after column 0 (LXMERT: np.argmax(prob[:, 1:], axis=1)).
func argmaxAfterFirst(field string, v []float32, n int) ([]int64, []float32, error) {
	w, err := rowWidth(field, v, n)
	if err != nil {
		return nil, nil, err
	}
	if n > 0 && w < 2 {
		return nil, nil, fmt.Errorf("%s has %d columns, want at least 2", field, w)
	}
	ids, conf := make([]int64, n), make([]float32, n)
	for r := range n {
		row := v[r*w+1 : (r+1)*w]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		ids[r], conf[r] = int64(best), row[best]
	}
	return ids, conf, nil
}

func int64Base64(v []int64) string {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// TSVWriter appends rows to an LXMERT TSV, each flushed to disk before
// Write returns.
type TSVWriter struct {
	f    *os.File
	path string
}

// TSVState is what OpenTSV found in an existing file.
type TSVState struct {
	Done    map[string]bool // img_id of every complete row
	Rows    int
	Dropped string // "" or a description of the partial last row that was cut off
}

// OpenTSV opens path for appending, creating it if needed. Complete rows
// already there are listed in the state; a partial last row (a crash
// during a write) is truncated away and described in Dropped. A damaged
// complete row is an error naming the line.
func OpenTSV(path string) (*TSVWriter, *TSVState, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("output: %w", err)
	}
	st, complete, err := ScanTSV(bufio.NewReaderSize(f, 1<<20), path)
	if err == nil && st.Dropped != "" {
		if err = f.Truncate(complete); err == nil {
			err = f.Sync()
		}
	}
	if err == nil {
		_, err = f.Seek(complete, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("output: %s: %w", path, err)
	}
	return &TSVWriter{f: f, path: path}, st, nil
}

// Write appends one row and syncs it.
func (w *TSVWriter) Write(im *Image) error {
	row, err := EncodeTSVRow(im)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(row); err != nil {
		return fmt.Errorf("output: %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("output: %s: %w", w.path, err)
	}
	return nil
}

// Close closes the file.
func (w *TSVWriter) Close() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("output: %s: %w", w.path, err)
	}
	return nil
}

// ScanTSV reads an LXMERT TSV: the img_ids of its complete rows, the byte
// length of those rows, and a description of a partial last row (no final
// newline) if there is one. name is quoted in errors.
func ScanTSV(r io.Reader, name string) (*TSVState, int64, error) {
	st := &TSVState{Done: map[string]bool{}}
	br := bufio.NewReaderSize(r, 64<<10)
	var complete int64
	line := 0
	for {
		row, err := readLine(br, MaxTSVLine)
		line++
		if errors.Is(err, io.EOF) {
			if len(row) > 0 {
				st.Dropped = fmt.Sprintf("%s line %d: partial row of %d bytes without a newline (an interrupted write) dropped", name, line, len(row))
			}
			return st, complete, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("output: %s line %d: %w", name, line, err)
		}
		body := bytes.TrimRight(row, "\r\n")
		if len(bytes.TrimSpace(body)) > 0 {
			id, err := checkTSVRow(body)
			if err != nil {
				return nil, 0, fmt.Errorf("output: %s line %d: %w", name, line, err)
			}
			if st.Done[id] {
				return nil, 0, fmt.Errorf("output: %s line %d: img_id %q appears twice", name, line, id)
			}
			st.Done[id] = true
			st.Rows++
		}
		complete += int64(len(row))
	}
}

// readLine returns the next line with its newline; at the end of input the
// remainder (possibly empty) and io.EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > max {
			return nil, fmt.Errorf("line longer than %d bytes", max)
		}
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return out, err
		}
	}
}

// checkTSVRow validates one row's columns and array sizes, returning img_id.
func checkTSVRow(row []byte) (string, error) {
	cols := bytes.Split(row, []byte{'\t'})
	if len(cols) != len(TSVFields) {
		return "", fmt.Errorf("%d tab-separated columns, want %d (%v)", len(cols), len(TSVFields), TSVFields)
	}
	id := string(cols[0])
	if id == "" {
		return "", fmt.Errorf("empty img_id")
	}
	var ints [3]int
	for k, c := range []int{1, 2, 7} {
		v, err := strconv.Atoi(string(cols[c]))
		if err != nil || v < 0 || v > 1<<20 {
			return "", fmt.Errorf("column %s = %.20q is not a sane count", TSVFields[c], cols[c])
		}
		ints[k] = v
	}
	n := ints[2]
	for _, c := range []struct {
		col, bytesPerBox int
	}{{3, 8}, {4, 4}, {5, 8}, {6, 4}, {8, 16}, {9, 0}} {
		raw, err := base64.StdEncoding.DecodeString(string(cols[c.col]))
		if err != nil {
			return "", fmt.Errorf("column %s: %w", TSVFields[c.col], err)
		}
		switch {
		case c.bytesPerBox > 0 && len(raw) != n*c.bytesPerBox:
			return "", fmt.Errorf("column %s: %d bytes, want %d boxes x %d", TSVFields[c.col], len(raw), n, c.bytesPerBox)
		case c.bytesPerBox == 0 && (n == 0 && len(raw) != 0 || n > 0 && len(raw)%(4*n) != 0):
			return "", fmt.Errorf("column %s: %d bytes do not split into %d rows of float32", TSVFields[c.col], len(raw), n)
		}
	}
	return id, nil
}

// DoneTSV is ScanTSV of a file path; a missing file has nothing done.
func DoneTSV(path string) (*TSVState, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &TSVState{Done: map[string]bool{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	defer f.Close()
	st, _, err := ScanTSV(f, path)
	return st, err
}
