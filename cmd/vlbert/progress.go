package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// imageProgress is the progress of a command that works through a list of
// images (features, detect): one line per image, or one bar redrawn in place on
// a terminal, with images/s and the ETA.
type imageProgress struct {
	w        io.Writer
	terminal bool
	what     string // the command, first on each line
	total    int
	done     int
	start    time.Time
	barShown bool
}

func (p *imageProgress) status() string {
	s := fmt.Sprintf("%s: %d/%d images", p.what, p.done, p.total)
	if el := time.Since(p.start); p.done > 0 && el > 0 {
		rate := float64(p.done) / el.Seconds()
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		s += fmt.Sprintf(", %.3f images/s, ETA %s", rate, eta.Round(time.Second))
	}
	return s
}

func (p *imageProgress) bar() string {
	const width = 30
	fill := 0
	if p.total > 0 {
		fill = width * p.done / p.total
	}
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] " + p.status()
}

// line prints a message above the bar.
func (p *imageProgress) line(s string) {
	if p.terminal && p.barShown {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
	if p.terminal && p.barShown {
		fmt.Fprint(p.w, p.bar())
	}
}

func (p *imageProgress) step() {
	p.done++
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K"+p.bar())
		p.barShown = true
		return
	}
	fmt.Fprintln(p.w, p.status())
}

func (p *imageProgress) finish() {
	if p.terminal && p.barShown {
		fmt.Fprintln(p.w)
		p.barShown = false
	}
}
