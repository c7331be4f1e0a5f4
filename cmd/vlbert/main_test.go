package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"no-such-command"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("stderr %q does not name the problem", errb.String())
	}
}

func TestRunHelpListsCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	for name := range commands {
		if !strings.Contains(out.String(), name) {
			t.Errorf("usage does not list %q", name)
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit code %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "vlbert ") || !strings.Contains(out.String(), "gemm=") {
		t.Fatalf("unexpected version line %q", out.String())
	}
}
