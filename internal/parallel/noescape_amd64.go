package parallel

import "unsafe"

// noescape returns p unchanged but hides it from escape analysis (an assembly
// identity function declared noescape). It is safe here because For waits for every
// task that holds the pointer before it returns.
//
//go:noescape
func noescape(p unsafe.Pointer) unsafe.Pointer
