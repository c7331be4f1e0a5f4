package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
)

// The README's examples are tested here so that they cannot go stale:
// TestREADMEFirstScreen and TestREADMEFlags read the commands, TestREADMEScenes
// checks that the example scene answers the questions and expressions shown,
// and runREADMECommands (from TestDemoQuick) runs them on the quick demo's
// output.

const readmePath = "../../README.md"

// readmeLine is one command of a README code block (continuations joined)
// and the output shown under it in "# ..." comment lines.
type readmeLine struct {
	block int // index of the sh block
	cmd   string
	shown []string
}

// readmeCommands returns the commands of the README's ```sh blocks.
func readmeCommands(t *testing.T) []readmeLine {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeLine
	block, in, cont := -1, false, ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			block++
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		case !in:
			continue
		}
		trimmed := strings.TrimSpace(line)
		if cont == "" && strings.HasPrefix(trimmed, "#") {
			if len(out) > 0 && out[len(out)-1].block == block {
				out[len(out)-1].shown = append(out[len(out)-1].shown, strings.TrimSpace(strings.TrimPrefix(trimmed, "#")))
			}
			continue
		}
		if trimmed == "" {
			continue
		}
		if c, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cont += c + " "
			continue
		}
		full := cont + trimmed
		cont = ""
		// A trailing comment explains the command.
		if i := strings.Index(full, "    #"); i >= 0 {
			full = strings.TrimSpace(full[:i])
		}
		out = append(out, readmeLine{block: block, cmd: full})
	}
	return out
}

// shellWords splits a command line as sh would for the quoting the README
// uses (double quotes, backslash escapes; no expansion).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// vlbertArgs returns the arguments after "vlbert" (or "go run ./cmd/vlbert")
// in cmd, and whether it runs vlbert.
func vlbertArgs(t *testing.T, cmd string) ([]string, bool) {
	t.Helper()
	words, err := shellWords(cmd)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range words {
		if w == "vlbert" || w == "./cmd/vlbert" && i >= 2 && words[i-2] == "go" && words[i-1] == "run" {
			args := words[i+1:]
			if n := len(args); n > 0 && args[n-1] == "&" {
				args = args[:n-1]
			}
			return args, true
		}
	}
	return nil, false
}

// TestREADMEFirstScreen: the README opens with the two commands a newcomer
// needs, the demo and the tests.
func TestREADMEFirstScreen(t *testing.T) {
	var first []string
	for _, l := range readmeCommands(t) {
		if l.block == 0 {
			first = append(first, l.cmd)
		}
	}
	if want := []string{"go run ./cmd/vlbert demo", "go vet ./... && go test ./..."}; !slices.Equal(first, want) {
		t.Errorf("the README's first block runs %q, want %q", first, want)
	}
}

// readmeTableCommands returns the commands of the README's command table
// (`train --cfg CFG ...` cells), which name flags but no real files.
func readmeTableCommands(t *testing.T) []string {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z][^`]*)` \\|").FindAllStringSubmatch(string(b), -1) {
		for _, alt := range strings.Split(m[1], "`, `") { // "`vqa`, `ground`, `vcr`"
			out = append(out, alt)
		}
	}
	return out
}

// TestREADMEFlags: every vlbert command in the README's code blocks and
// command table is a command, and every flag it passes is one that command's
// -h lists.
func TestREADMEFlags(t *testing.T) {
	var cmds [][]string
	for _, l := range readmeCommands(t) {
		if args, ok := vlbertArgs(t, l.cmd); ok {
			cmds = append(cmds, args)
		}
	}
	for _, c := range readmeTableCommands(t) {
		words, err := shellWords(strings.NewReplacer("[", "", "]", "", "...", "").Replace(c))
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, words)
	}
	if len(cmds) < 15 {
		t.Fatalf("found %d vlbert commands in the README", len(cmds))
	}
	help := map[string]string{}
	for _, args := range cmds {
		name := args[0]
		if commands[name] == nil {
			t.Errorf("README runs `vlbert %s`: no such command", strings.Join(args, " "))
			continue
		}
		hargs := []string{name, "-h"}
		if name == "data" || name == "bench" {
			if len(args) < 2 {
				continue
			}
			hargs = []string{name, args[1], "-h"}
		}
		key := strings.Join(hargs, " ")
		if _, ok := help[key]; !ok {
			var stdout, stderr bytes.Buffer
			run(context.Background(), hargs, &stdout, &stderr)
			help[key] = stdout.String() + stderr.String()
		}
		for _, a := range args[1:] {
			flagName, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "--") || flagName == "" {
				continue
			}
			if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(flagName) + `\b`).MatchString(help[key]) {
				t.Errorf("README passes --%s to `vlbert %s`, whose -h does not list it", flagName, strings.Join(hargs[:len(hargs)-1], " "))
			}
		}
	}
}

var (
	readmeScene = regexp.MustCompile(`demo-out/data/([^ "]+)/(\d+)\.(json|png)`)
	colorQ      = regexp.MustCompile(`^what color is the (\w+) \?$`)
	shownAnswer = regexp.MustCompile(`"answer":"([^"]+)"`)
)

// TestREADMEScenes: the README's examples name files where the world's
// layout puts them, of a held-out scene of the full demo's world, and ask
// questions (and ground expressions) that scene answers, with the answer
// shown.
func TestREADMEScenes(t *testing.T) {
	w, err := synth.Generate(synth.DefaultConfig()) // the full demo's world (objects only, nothing rendered)
	if err != nil {
		t.Fatal(err)
	}
	val := map[int]synth.Scene{}
	for _, s := range w.Val {
		val[s.ID] = s
	}
	checked := 0
	for _, l := range readmeCommands(t) {
		words, err := shellWords(l.cmd)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(words, " ")
		ms := readmeScene.FindAllStringSubmatch(joined, -1)
		if len(ms) == 0 {
			continue
		}
		var scene synth.Scene
		for _, m := range ms {
			dir, id := m[1], m[2]
			want := synth.Layout.Features
			if m[3] == "png" {
				want = synth.Layout.Images
			}
			if dir != filepath.ToSlash(want) {
				t.Errorf("%q: %s files are in demo-out/data/%s", l.cmd, m[3], filepath.ToSlash(want))
			}
			n, _ := strconv.Atoi(id)
			s, ok := val[n]
			if !ok {
				t.Errorf("%q: scene %s is no held-out scene of the demo's world", l.cmd, id)
			}
			scene = s
		}
		var question, expression string
		for i, a := range words {
			switch {
			case (a == "--question" || a == "--text") && i+1 < len(words):
				question = words[i+1]
			case a == "--expression" && i+1 < len(words):
				expression = words[i+1]
			}
		}
		if strings.HasPrefix(words[0], "curl") { // {"question": "..."} in the JSON body
			if m := regexp.MustCompile(`"question": "([^"]+)"`).FindStringSubmatch(joined); m != nil {
				question = m[1]
			}
		}
		if question != "" {
			m := colorQ.FindStringSubmatch(question)
			if m == nil {
				t.Errorf("%q: the check knows only \"what color is the <shape> ?\" questions", l.cmd)
				continue
			}
			var colors []string
			for _, o := range scene.Objects {
				if synth.Shapes[o.Shape] == m[1] {
					colors = append(colors, synth.Colors[o.Color])
				}
			}
			if len(colors) != 1 {
				t.Errorf("%q: scene %d has %d %ss", l.cmd, scene.ID, len(colors), m[1])
				continue
			}
			for _, s := range l.shown {
				if a := shownAnswer.FindStringSubmatch(s); a != nil && a[1] != colors[0] {
					t.Errorf("%q: the README shows the answer %q, the %s of scene %d is %s", l.cmd, a[1], m[1], scene.ID, colors[0])
				}
			}
			checked++
		}
		if expression != "" {
			n := 0
			for _, o := range scene.Objects {
				if expression == "the "+synth.Colors[o.Color]+" "+synth.Shapes[o.Shape] {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%q: %q matches %d objects of scene %d", l.cmd, expression, n, scene.ID)
			}
			checked++
		}
	}
	if checked < 4 {
		t.Errorf("checked %d README questions and expressions, want the vqa, ground, visualize and serve examples", checked)
	}
}

// runREADMECommands runs the vlbert commands of the README's demo section
// ("vlbert vqa", "ground", "eval", "visualize", "data check") as written,
// from a directory where demo-out is the quick demo's output out and configs
// the repository's; the quick world's first held-out scene stands in for the
// full world's. The server example is not run (it listens on a port).
func runREADMECommands(t *testing.T, out string, quickScene int) {
	configs, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, l := range [][2]string{{out, "demo-out"}, {configs, "configs"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	lines := readmeCommands(t)
	t.Chdir(dir)
	ran := map[string]bool{}
	for _, l := range lines {
		args, ok := vlbertArgs(t, l.cmd)
		if !ok || !slices.Contains([]string{"vqa", "ground", "eval", "visualize", "data"}, args[0]) || !strings.Contains(l.cmd, "demo-out") && args[0] != "data" {
			continue
		}
		for i, a := range args {
			args[i] = readmeScene.ReplaceAllStringFunc(a, func(p string) string {
				m := readmeScene.FindStringSubmatch(p)
				return fmt.Sprintf("demo-out/data/%s/%d.%s", m[1], quickScene, m[3])
			})
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Errorf("README: vlbert %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
			continue
		}
		want := map[string]string{"vqa": "answer", "ground": "box", "eval": "SoftAcc=", "data": "ok ("}[args[0]]
		if want != "" && !strings.Contains(stdout.String(), want) {
			t.Errorf("README: vlbert %s printed %q, want it to contain %q", strings.Join(args, " "), stdout.String(), want)
		}
		ran[args[0]] = true
	}
	if _, err := os.Stat(filepath.Join(dir, "attn.html")); err != nil {
		t.Errorf("README's visualize example: %v", err)
	}
	if len(ran) != 5 {
		t.Errorf("ran the README commands %v, want vqa, ground, eval, visualize and data", ran)
	}
}
