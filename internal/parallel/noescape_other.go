//go:build !amd64

package parallel

import "unsafe"

// noescape is the identity. Without the amd64 assembly version the loop body
// escapes, so For allocates a little per call on other architectures.
func noescape(p unsafe.Pointer) unsafe.Pointer { return p }
