// Command vlbert is VL-BERT (Su et al., ICLR 2020) in one Go binary: pre-training,
// fine-tuning, evaluation, inference and serving of the visual-linguistic BERT.
//
// main only wires subcommands and maps errors to exit codes. Each subcommand lives in
// its own file with the same shape: an options struct, flag registration, and a
// runX(ctx, opts, out) error function that tests call directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. run parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

// register adds a subcommand; each subcommand file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("vlbert: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// usageError marks a bad command line: exit code 2 instead of 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vlbert "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors. It returns
// flag.ErrHelp unchanged so that -h exits 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "vlbert: VL-BERT visual-linguistic pre-training, fine-tuning and inference")
	fmt.Fprintln(w, "\nusage: vlbert <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vlbert <command> -h' for the flags of a command.")
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vlbert: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	var ue usageError
	var ee exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "vlbert %s: %v (exit %d)\n", c.name, err, ee.code)
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vlbert %s: %v\n", c.name, err)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "vlbert %s: interrupted\n", c.name)
		return 130
	default:
		fmt.Fprintf(stderr, "vlbert %s: %v\n", c.name, err)
		return 1
	}
}

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
