package gemm

import "testing"

// extraTestKernels are assembly kernels that only tests use: a 12x8 AVX2 tile that
// shares the AVX-512 kernels' 12-row code path, run through the whole driver.
func extraTestKernels() []*kernel {
	if !avx2.supported() {
		return nil
	}
	return []*kernel{{
		name: "avx2-rows12", mr: 12, nr: 8,
		mc: 96, kc: 256, nc: 1024,
		supported: avx2.supported,
		tile:      tileAVX2Rows12,
	}}
}

// TestPackAsm compares the assembly packers with their definitions for every
// remainder of kc and a padded leading dimension.
func TestPackAsm(t *testing.T) {
	if !hasPack {
		t.Skip("no AVX")
	}
	for kc := 1; kc <= 19; kc++ {
		const lda, panels = 37, 3
		src := randFloats(lda * 64)
		dst := make([]float32, 6*kc*panels+16*kc)
		packA6(&dst[0], &src[2], lda, kc)
		for p := 0; p < kc; p++ {
			for i := 0; i < 6; i++ {
				if got, want := dst[p*6+i], src[2+i*lda+p]; got != want {
					t.Fatalf("packA6 kc=%d [%d][%d] = %v, want %v", kc, p, i, got, want)
				}
			}
		}
		packAT6(&dst[0], &src[1], lda, panels, kc)
		for tt := 0; tt < panels; tt++ {
			for p := 0; p < kc; p++ {
				for i := 0; i < 6; i++ {
					if got, want := dst[tt*6*kc+p*6+i], src[1+p*lda+tt*6+i]; got != want {
						t.Fatalf("packAT6 kc=%d panel %d [%d][%d] = %v, want %v", kc, tt, p, i, got, want)
					}
				}
			}
		}
		packB16(&dst[0], &src[3], lda, kc)
		for p := 0; p < kc; p++ {
			for j := 0; j < 16; j++ {
				if got, want := dst[p*16+j], src[3+p*lda+j]; got != want {
					t.Fatalf("packB16 kc=%d [%d][%d] = %v, want %v", kc, p, j, got, want)
				}
			}
		}
	}
}
