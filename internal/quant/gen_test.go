package quant

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAssembly: tile_amd64.s is what asm/gen.go writes today.
func TestGeneratedAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the generator")
	}
	out := filepath.Join(t.TempDir(), "tile_amd64.s")
	if msg, err := exec.Command("go", "run", "asm/gen.go", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run asm/gen.go: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("tile_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("tile_amd64.s differs from the output of asm/gen.go: run go generate in internal/quant")
	}
}
