package kernels

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// legacySSE matches a non-VEX SSE instruction on an XMM register. Mixed into AVX code
// (after a 256-bit instruction has dirtied the upper halves) each one costs a state
// transition; on the Zen 3 VMs this project is measured on that was ~200 cycles, which
// made the per-row dropout calls ~70x slower. Go's assembler picks the VEX form only for
// the V-prefixed mnemonics, so every XMM instruction in the AVX kernels must be one.
var legacySSE = regexp.MustCompile(`^\s*(MOV[QDL]|MOVS[SD]|MOVU?P[SD]|MOVO[U]?|SHUFP[SD]|(ADD|SUB|MUL|DIV|MAX|MIN|SQRT)[SP][SD]|CVT\w+|P[A-Z]+|XORP[SD]|ANDN?P[SD]|ORP[SD]|UNPCK\w+|HADDP[SD])\s[^/]*\bX\d+\b`)

// TestAssemblyHasNoLegacySSE scans every amd64 assembly file of the module.
func TestAssemblyHasNoLegacySSE(t *testing.T) {
	root := filepath.Join("..", "..")
	var files int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_amd64.s") {
			return nil
		}
		files++
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if code, _, _ := strings.Cut(line, "//"); legacySSE.MatchString(code) {
				t.Errorf("%s:%d: legacy SSE instruction in AVX code (use the V form): %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found %d amd64 assembly files; the walk from %s is wrong", files, root)
	}
	// The pattern itself must catch what it is for.
	for _, bad := range []string{"\tMOVQ R8, X4", "\tMOVSS X0, sum+32(FP)", "\tXORPS X15, X15", "\tPXOR X1, X2"} {
		if !legacySSE.MatchString(bad) {
			t.Errorf("pattern misses %q", bad)
		}
	}
	for _, ok := range []string{"\tVMOVQ R8, X4", "\tMOVQ n+16(FP), CX", "\tVPBROADCASTQ X4, Y4", "\tPREFETCHT0 (R9)"} {
		if legacySSE.MatchString(ok) {
			t.Errorf("pattern flags %q", ok)
		}
	}
}
