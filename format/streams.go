// Package format renders every byte mqtool shows to people or scripts:
// received messages, tables, progress lines and colour, and knows whether
// each stream is a terminal.
package format

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// Streams are the standard streams of one command run. Tests replace them
// with buffers and set the TTY flags to fake a terminal.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	InTTY  bool
	OutTTY bool
	ErrTTY bool
	// NoColor is set when the NO_COLOR environment variable is non-empty.
	NoColor bool
}

// System returns the process's standard streams.
func System() *Streams {
	tty := func(f *os.File) bool {
		return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return &Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY: tty(os.Stdin), OutTTY: tty(os.Stdout), ErrTTY: tty(os.Stderr),
		NoColor: os.Getenv("NO_COLOR") != "",
	}
}

// ColorMode is the --color setting.
type ColorMode int

// Colour settings.
const (
	ColorAuto ColorMode = iota
	ColorAlways
	ColorNever
)

// String returns the flag value for m.
func (m ColorMode) String() string {
	switch m {
	case ColorAlways:
		return "always"
	case ColorNever:
		return "never"
	}
	return "auto"
}

// ParseColorMode parses "auto", "always" or "never".
func ParseColorMode(s string) (ColorMode, error) {
	switch s {
	case "", "auto":
		return ColorAuto, nil
	case "always":
		return ColorAlways, nil
	case "never":
		return ColorNever, nil
	}
	return ColorAuto, fmt.Errorf("format: --color must be auto, always or never, not %q", s)
}

// Color reports whether output to stdout (or stderr when toErr) is coloured
// under mode m: always, never, or on a terminal unless NO_COLOR is set.
func (s *Streams) Color(m ColorMode, toErr bool) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if s.NoColor {
		return false
	}
	if toErr {
		return s.ErrTTY
	}
	return s.OutTTY
}
