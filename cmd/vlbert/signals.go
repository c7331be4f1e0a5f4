package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// signalCause is the cancellation cause of the command context: the signal
// that stopped the process.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "received " + s.sig.String() }

// exitCode is the shell convention for a process stopped by sig: 128 + its
// number (130 for SIGINT, 143 for SIGTERM).
func (s signalCause) exitCode() int {
	if n, ok := s.sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// signalContext is cancelled by SIGINT or SIGTERM, with the signal as its
// cause (see stoppedBy).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		if s, ok := <-sigc; ok {
			cancel(signalCause{s})
		}
	}()
	return ctx, func() { signal.Stop(sigc); cancel(nil) }
}

// stoppedBy returns the signal that cancelled ctx, if one did.
func stoppedBy(ctx context.Context) (signalCause, bool) {
	var sc signalCause
	ok := errors.As(context.Cause(ctx), &sc)
	return sc, ok
}

// exitError makes a command exit with code after printing nothing more (the
// command has said what happened).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// resumeCommand is the command line that continues a stopped training run:
// the same config, model directory and overrides, with --resume.
// Paths are made absolute, so that it works from any directory.
func resumeCommand(o trainOptions) string {
	parts := []string{"vlbert", "train", "--cfg", shellQuote(absPath(o.cfg))}
	if o.modelDir != "" {
		parts = append(parts, "--model-dir", shellQuote(absPath(o.modelDir)))
	}
	for _, s := range o.sets {
		parts = append(parts, "--set", shellQuote(s))
	}
	return strings.Join(append(parts, "--resume"), " ")
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
