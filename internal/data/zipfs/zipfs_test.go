package zipfs

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeZip(t *testing.T, path string, members map[string]string, method uint16) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSplitZipPath(t *testing.T) {
	for _, c := range []struct{ in, zip, inner string }{
		{"data/train_frcnn.zip@/00001234.json", "data/train_frcnn.zip", "00001234.json"},
		{"a.zip@/dir/x.json/", "a.zip", "dir/x.json"},
		{"a.zip@b.zip@/x", "a.zip", "b.zip@/x"},
	} {
		z, in, ok := SplitZipPath(c.in)
		if !ok || z != c.zip || in != c.inner {
			t.Errorf("SplitZipPath(%q) = %q, %q, %v", c.in, z, in, ok)
		}
	}
	if _, _, ok := SplitZipPath("plain/x.json"); ok {
		t.Error("plain path reported as zip")
	}
}

func TestNonZipRewriting(t *testing.T) {
	if got := StripZipMarker("train_image.zip@/00001234.jpg"); got != "train_image/00001234.jpg" {
		t.Errorf("StripZipMarker = %q", got)
	}
	// The quirk: ".0".."3" are deleted anywhere, even in a directory name "v1.2".
	if got := CCNonZipPath("train_frcnn.0.zip@/00001234.json", true); got != "train_frcnn/00001234.json" {
		t.Errorf("CCNonZipPath = %q", got)
	}
	if got := CCNonZipPath("v1.2/x.3.json", true); got != "v1/x.json" {
		t.Errorf("CCNonZipPath quirk = %q, want v1/x.json", got)
	}
	if got := CCNonZipPath("v1.2/x.3.json", false); got != "v1.2/x.3.json" {
		t.Errorf("CCNonZipPath without quirk = %q", got)
	}
}

func TestReadFileZipAndPlain(t *testing.T) {
	dir := t.TempDir()
	zpath := filepath.Join(dir, "feats.zip")
	writeZip(t, zpath, map[string]string{"feats/1.json": "one", "feats/2.json": "two"}, zip.Store)
	dpath := filepath.Join(dir, "defl.zip")
	writeZip(t, dpath, map[string]string{"x.txt": strings.Repeat("abc", 1000)}, zip.Deflate)
	plain := filepath.Join(dir, "p.txt")
	if err := os.WriteFile(plain, []byte("plain"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := New()
	defer fs.Close()
	for path, want := range map[string]string{
		zpath + "@/feats/1.json": "one",
		zpath + "@feats/2.json":  "two",
		dpath + "@/x.txt":        strings.Repeat("abc", 1000),
		plain:                    "plain",
	} {
		got, err := fs.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v", path, got, err)
		}
	}
	_, err := fs.ReadFile(zpath + "@/feats/3.json")
	if err == nil || !strings.Contains(err.Error(), "feats/3.json") {
		t.Errorf("missing member error = %v", err)
	}
	_, err = fs.ReadFile(filepath.Join(dir, "nope.zip@/x"))
	if err == nil || !strings.Contains(err.Error(), "nope.zip") {
		t.Errorf("missing archive error = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.zip"), []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = fs.ReadFile(filepath.Join(dir, "bad.zip@/x")); err == nil {
		t.Error("corrupt archive accepted")
	}
	fs.MaxFileBytes = 10
	if _, err = fs.ReadFile(dpath + "@/x.txt"); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("size limit error = %v", err)
	}
	if _, err = fs.ReadFile(plain); err != nil {
		t.Errorf("small plain file under limit: %v", err)
	}
	names, err := fs.Members(zpath)
	if err != nil || len(names) != 2 {
		t.Errorf("Members = %v, %v", names, err)
	}
}

// TestConcurrentReads opens the archive from many goroutines at once; run with
// -race to check the cache map and member reads.
func TestConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	zpath := filepath.Join(dir, "c.zip")
	members := map[string]string{}
	for i := range 20 {
		members[fmt.Sprintf("m%d", i)] = strings.Repeat(fmt.Sprint(i), 100+i)
	}
	writeZip(t, zpath, members, zip.Store)
	fs := New()
	defer fs.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				name := fmt.Sprintf("m%d", (i+g)%20)
				got, err := fs.ReadFile(zpath + "@/" + name)
				if err != nil {
					errs <- err
					return
				}
				if string(got) != members[name] {
					errs <- fmt.Errorf("%s: wrong contents", name)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(fs.archives) != 1 {
		t.Errorf("archive opened %d times", len(fs.archives))
	}
}
