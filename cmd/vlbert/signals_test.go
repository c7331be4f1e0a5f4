package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
)

// splitShell splits a command line quoted by shellQuote.
func splitShell(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\'':
			inQuote = false
		case inQuote:
			cur.WriteByte(c)
		case c == '\'':
			inQuote, have = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ' ':
			if cur.Len() > 0 || have {
				out = append(out, cur.String())
			}
			cur.Reset()
			have = false
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 || have {
		out = append(out, cur.String())
	}
	return out
}

// Finding 7: a run stopped by SIGTERM (SIGINT) exits 143 (130) after its
// checkpoint, and the printed command, run as printed, continues it.
func TestSignalExitCodeAndResumeCommand(t *testing.T) {
	world, modelDir := writeTinyWorld(t), t.TempDir()
	args := []string{"train", "--cfg", "../../configs/synth/vqa.yaml", "--model-dir", modelDir}
	for _, s := range tinyTrainSets(world, "out") {
		args = append(args, "--set", s)
	}
	args = append(args, "--set", "OUTPUT_PATH=out dir", "--set", "TRAIN.LR=3e-4")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(signalCause{sig}) // stopped before the first batch: the checkpoint is written at once
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, &stdout, &stderr)
		if want := 128 + int(sig); code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", sig, code, want, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String(), "checkpoint: ") {
			t.Errorf("%v: no checkpoint reported:\n%s", sig, stdout.String())
		}
		_, line, ok := strings.Cut(stdout.String(), "continue with: ")
		if !ok {
			t.Fatalf("no resume command in:\n%s", stdout.String())
		}
		line, _, _ = strings.Cut(line, "\n")
		for _, want := range []string{"--model-dir " + modelDir, "--set 'OUTPUT_PATH=out dir'", "--set TRAIN.LR=3e-4", "--resume"} {
			if !strings.Contains(line, want) {
				t.Errorf("resume command %q lacks %q", line, want)
			}
		}
		if sig == syscall.SIGINT {
			resumed := splitShell(line)
			if resumed[0] != "vlbert" {
				t.Fatalf("command %q", line)
			}
			stdout.Reset()
			if code := run(context.Background(), resumed[1:], &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "done: 1 epochs") {
				t.Fatalf("the printed command %q: exit %d\n%s\n%s", line, code, stdout.String(), stderr.String())
			}
		}
	}
}
