package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint directory hygiene. A run holds an exclusive lock on its output
// directory (flock on .vlbert-train.lock, released by the kernel when the
// process dies, however it dies), so at start every temporary file of an
// atomic write there (".<name>.tmp-*", and "<best>.link") belongs to a
// process that is gone: a kill -9 in the middle of a checkpoint write. Those
// are removed, and the log says so.

const lockName = ".vlbert-train.lock"

// lockOutputDir takes the output directory's lock; another live run there is
// an error naming its pid. unlock releases it.
func lockOutputDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if held, err := tryLock(f); err != nil || held {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if held {
			return nil, fmt.Errorf("train: another vlbert train (pid %s) is writing to %s; wait for it or stop it first", strings.TrimSpace(string(b)), dir)
		}
		return nil, fmt.Errorf("train: locking %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil // closing drops the lock
}

// isStaleTemp reports whether name is a temporary file of an atomic write
// (internal/atomicfile's ".<name>.tmp-<random>", saveBest's "<name>.link").
func isStaleTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") || strings.HasSuffix(name, ckptExt+".link")
}

// removeStaleTemps removes the temporary files of dir (call it with the
// directory's lock held) and reports each on log.
func removeStaleTemps(dir string, log io.Writer) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isStaleTemp(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("train: removing a stale temporary file: %w", err)
		}
		fmt.Fprintf(log, "removed %s (%d bytes): the temporary file of a write interrupted by a crash\n", path, size)
	}
	return nil
}

// prepareOutputDir locks outDir for this run and removes stale temporary
// files there and in the checkpoint directory (rank 0 only).
func prepareOutputDir(outDir, prefix string, log io.Writer) (unlock func(), err error) {
	unlock, err = lockOutputDir(outDir)
	if err != nil {
		return nil, err
	}
	for _, d := range uniqueDirs(outDir, filepath.Dir(prefix)) {
		if err := removeStaleTemps(d, log); err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

func uniqueDirs(a, b string) []string {
	if filepath.Clean(a) == filepath.Clean(b) {
		return []string{a}
	}
	return []string{a, b}
}
