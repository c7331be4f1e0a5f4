package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/vlbert/vlbert/internal/gemm"
)

func init() {
	register(&command{name: "version", summary: "print version, Go runtime and the selected SGEMM kernel",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("version", stderr)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			return runVersion(stdout)
		}})
}

func runVersion(out io.Writer) error {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	_, err := fmt.Fprintf(out, "vlbert %s %s %s/%s gemm=%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, gemm.KernelName())
	return err
}
