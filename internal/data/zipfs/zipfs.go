// Package zipfs reads data files that live either on disk or inside zip archives,
// addressed with the original VL-BERT "zip mode" syntax `archive.zip@/inner/path`.
//
// Archives are opened once, on first use, and kept open for the life of the FS;
// an FS is safe for concurrent use by many goroutines (members are read through
// io.ReaderAt, so different members, or the same member, can be read at once).
// The original archives are written with `zip -0` (stored); deflated members are
// read too.
//
// The package also holds the original's non-zip path rewriting (StripZipMarker,
// CCNonZipPath), including its documented quirk of deleting ".0"-".3".
package zipfs

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// DefaultMaxFileBytes bounds a single read (a member or a plain file): 1 GiB.
const DefaultMaxFileBytes = 1 << 30

const marker = ".zip@"

// SplitZipPath splits "dir/a.zip@/inner/x.json" into ("dir/a.zip", "inner/x.json").
// As in the original ZipReader, the first ".zip@" is the separator and slashes
// around the inner path are stripped. ok is false when path has no ".zip@".
func SplitZipPath(path string) (zipPath, inner string, ok bool) {
	i := strings.Index(path, marker)
	if i < 0 {
		return "", "", false
	}
	zipPath = path[:i+len(".zip")]
	inner = strings.Trim(path[i+len(marker):], "/")
	return zipPath, inner, true
}

// StripZipMarker turns a zip-mode path into the non-zip path the original uses
// when ZIP_MODE is off: every ".zip@" is deleted ("a.zip@/b.jpg" -> "a/b.jpg").
func StripZipMarker(path string) string { return strings.ReplaceAll(path, marker, "") }

// CCNonZipPath is the Conceptual Captions `frcnn` path rewriting of the original
// for ZIP_MODE off: delete ".zip@" and then, if stripDigitSuffixes, every ".0",
// ".1", ".2" and ".3" substring, in that order (pretrain/data/datasets/conceptual_captions.py, __init__: the original
// does this, presumably for archives split as train_frcnn.0.zip ...; it also
// mangles any other path containing such a substring). Reproduced by default.
func CCNonZipPath(path string, stripDigitSuffixes bool) string {
	path = StripZipMarker(path)
	if stripDigitSuffixes {
		for _, s := range []string{".0", ".1", ".2", ".3"} {
			path = strings.ReplaceAll(path, s, "")
		}
	}
	return path
}

// FS reads plain files and zip members. The zero value is not usable; call New.
type FS struct {
	// MaxFileBytes bounds one read; larger files or members are an error.
	MaxFileBytes int64

	mu       sync.Mutex
	archives map[string]*archive
	closed   bool
}

type archive struct {
	file    *os.File
	reader  *zip.Reader
	members map[string]*zip.File
}

// New returns an empty FS with the default size limit.
func New() *FS {
	return &FS{MaxFileBytes: DefaultMaxFileBytes, archives: map[string]*archive{}}
}

// ReadFile returns the contents of path: a member when path contains ".zip@",
// otherwise a plain file.
func (f *FS) ReadFile(path string) ([]byte, error) {
	zipPath, inner, ok := SplitZipPath(path)
	if !ok {
		return f.readPlain(path)
	}
	a, err := f.open(zipPath)
	if err != nil {
		return nil, err
	}
	m, ok := a.members[inner]
	if !ok {
		return nil, fmt.Errorf("zipfs: %s: no member %q in archive %s", path, inner, zipPath)
	}
	if m.UncompressedSize64 > uint64(f.limit()) {
		return nil, fmt.Errorf("zipfs: %s: member is %d bytes, over the %d-byte limit", path, m.UncompressedSize64, f.limit())
	}
	rc, err := m.Open()
	if err != nil {
		return nil, fmt.Errorf("zipfs: %s: %w", path, err)
	}
	defer rc.Close()
	buf := make([]byte, 0, m.UncompressedSize64)
	buf, err = readAllLimit(rc, buf, f.limit())
	if err != nil {
		return nil, fmt.Errorf("zipfs: %s: %w", path, err)
	}
	return buf, nil
}

// Open returns a reader for path (plain file or zip member). The caller closes it.
func (f *FS) Open(path string) (io.ReadCloser, error) {
	zipPath, inner, ok := SplitZipPath(path)
	if !ok {
		r, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("zipfs: %w", err)
		}
		return r, nil
	}
	a, err := f.open(zipPath)
	if err != nil {
		return nil, err
	}
	m, ok := a.members[inner]
	if !ok {
		return nil, fmt.Errorf("zipfs: %s: no member %q in archive %s", path, inner, zipPath)
	}
	rc, err := m.Open()
	if err != nil {
		return nil, fmt.Errorf("zipfs: %s: %w", path, err)
	}
	return rc, nil
}

// Members lists the member names of the archive zipPath (opening it if needed).
func (f *FS) Members(zipPath string) ([]string, error) {
	a, err := f.open(zipPath)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(a.reader.File))
	for _, m := range a.reader.File {
		names = append(names, m.Name)
	}
	return names, nil
}

// Close closes every open archive. Reads after Close fail.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, a := range f.archives {
		errs = append(errs, a.file.Close())
	}
	f.archives = map[string]*archive{}
	f.closed = true
	return errors.Join(errs...)
}

func (f *FS) limit() int64 {
	if f.MaxFileBytes <= 0 {
		return DefaultMaxFileBytes
	}
	return f.MaxFileBytes
}

// open returns the cached archive, opening it under the lock on first use so that
// concurrent first reads open it once.
func (f *FS) open(zipPath string) (*archive, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("zipfs: %s: FS is closed", zipPath)
	}
	if a, ok := f.archives[zipPath]; ok {
		return a, nil
	}
	file, err := os.Open(zipPath)
	if err != nil {
		return nil, fmt.Errorf("zipfs: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("zipfs: %w", err)
	}
	zr, err := zip.NewReader(file, st.Size())
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("zipfs: %s: %w", zipPath, err)
	}
	a := &archive{file: file, reader: zr, members: make(map[string]*zip.File, len(zr.File))}
	for _, m := range zr.File {
		// Keep the first of duplicate names, as a lookup by name would.
		if _, dup := a.members[m.Name]; !dup {
			a.members[m.Name] = m
		}
	}
	f.archives[zipPath] = a
	return a, nil
}

func (f *FS) readPlain(path string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zipfs: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("zipfs: %w", err)
	}
	if st.Size() > f.limit() {
		return nil, fmt.Errorf("zipfs: %s: file is %d bytes, over the %d-byte limit", path, st.Size(), f.limit())
	}
	buf, err := readAllLimit(file, make([]byte, 0, st.Size()), f.limit())
	if err != nil {
		return nil, fmt.Errorf("zipfs: %s: %w", path, err)
	}
	return buf, nil
}

// readAllLimit appends r to buf and fails once more than limit bytes were read.
func readAllLimit(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return buf, nil
}
