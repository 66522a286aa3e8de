package commands

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
)

func TestManFileUpToDate(t *testing.T) {
	want := manPage(realApp())
	got, err := os.ReadFile("../docs/mqtool.1")
	if err != nil {
		t.Fatalf("%v: run scripts/generate.sh", err)
	}
	if string(got) != want {
		t.Errorf("docs/mqtool.1 differs from `mqtool man`: run scripts/generate.sh\n%s", shortDiff(want, string(got)))
	}
}

func TestManCommand(t *testing.T) {
	s, out, errb := testStreams()
	if code := Main(context.Background(), []string{"mqtool", "man"}, s); code != 0 {
		t.Fatalf("mqtool man = %d, want 0 (stderr %q)", code, errb)
	}
	if want := manPage(realApp()); out.String() != want {
		t.Errorf("mqtool man output differs from manPage:\n%s", cmp.Diff(want, out.String()))
	}

	s, _, errb = testStreams()
	if code := Main(context.Background(), []string{"mqtool", "man", "extra"}, s); code != 1 {
		t.Errorf("mqtool man extra = %d, want 1", code)
	}
	if want := "Error: man takes no arguments\nUse 'mqtool man --help' to see usage.\n"; errb.String() != want {
		t.Errorf("mqtool man extra stderr = %q, want %q", errb, want)
	}
}

// TestManGroff renders the page with groff's warnings on: any warning fails.
func TestManGroff(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed: cannot render the man page")
	}
	for _, a := range apps() {
		t.Run(a.name, func(t *testing.T) {
			cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
			cmd.Stdin = strings.NewReader(manPage(a.app()))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("groff -man -ww: %v\n%s", err, stderr.String())
			}
		})
	}
}

// TestManTree checks that every visible command and flag of the real tree
// is in the page, and nothing hidden is.
func TestManTree(t *testing.T) {
	for _, a := range apps() {
		t.Run(a.name, func(t *testing.T) {
			app := a.app()
			page := manPage(app)
			for _, sec := range []string{".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH COMMANDS\n", ".SH EXIT STATUS\n"} {
				if !strings.Contains(page, sec) {
					t.Errorf("man page lacks section %q", sec)
				}
			}
			for _, code := range []string{".B 0\n", ".B 1\n", ".B 27\n", ".B 1\\-5, 128\\-162\n"} {
				if !strings.Contains(page, code) {
					t.Errorf("man page EXIT STATUS lacks %q", code)
				}
			}
			var visit func(path string, cmds []*cli.Command)
			visit = func(path string, cmds []*cli.Command) {
				for _, c := range cmds {
					p := strings.TrimSpace(path + " " + c.Name)
					sec := manSection(page, p)
					if c.Hidden {
						if sec != "" {
							t.Errorf("man page documents hidden command %q", p)
						}
						continue
					}
					if sec == "" {
						t.Errorf("man page lacks .SS \"mqtool %s\"", p)
						continue
					}
					for _, f := range c.Flags {
						for _, n := range f.Names() {
							dash := `\-\-`
							if len(n) == 1 {
								dash = `\-`
							}
							name := `\fB` + dash + roffEscape(n) + `\fR`
							hidden := false
							if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
								hidden = true
							}
							if got := strings.Contains(sec, name); got == hidden {
								t.Errorf("mqtool %s: man page has %s = %v, want %v", p, name, got, !hidden)
							}
						}
					}
					visit(p, c.Subcommands)
				}
			}
			visit("", app.Commands)
		})
	}
}

// manSection returns the part of page under .SS "mqtool path", up to the
// next .SS or .SH, or "".
func manSection(page, path string) string {
	head := ".SS " + roffQuoteArg("mqtool "+path) + "\n"
	_, rest, ok := strings.Cut(page, head)
	if !ok {
		return ""
	}
	for _, end := range []string{"\n.SS ", "\n.SH "} {
		if i := strings.Index(rest, end); i >= 0 {
			rest = rest[:i+1]
		}
	}
	return rest
}

func TestManFlagGroups(t *testing.T) {
	page := manPage(fakeApp())
	tests := []struct {
		name, path string
		want       string // a run of lines the command's section must contain
	}{
		{name: "categories in order of appearance", path: "serve", want: `.PP
.I "Connection options"
.TP
\fB\-\-listen\fR \fIADDR\fR
Listen on ADDR (default: "127.0.0.1:1883")
.TP
\fB\-\-port\fR \fIvalue\fR, \fB\-p\fR \fIvalue\fR
TCP port (default: 0)
.PP
.I "Output options"
.TP
\fB\-\-color\fR \fIvalue\fR
Colour output: auto, always or never (default: "auto")
`},
		{name: "uncategorised, repeated, booleans", path: "sub", want: `.PP
.I "Options"
.TP
\fB\-\-qos\fR \fIvalue\fR, \fB\-q\fR \fIvalue\fR
Quality of service [0\-2]: it's "QoS" (default: 0)
.TP
\fB\-\-topic\fR \fITOPIC\fR, \fB\-t\fR \fITOPIC\fR
Subscribe to TOPIC (may be repeated)
.TP
\fB\-\-remove\-retained\fR
Clear retained messages
`},
		{name: "subcommand with alias and arguments", path: "bench conn", want: `.SS "mqtool bench conn"
Connection storm.
Alias: \fBconnections\fR.
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := manSection(page, tt.path)
			if !strings.Contains(".SS "+roffQuoteArg("mqtool "+tt.path)+"\n"+sec, tt.want) {
				t.Errorf("man section %q lacks:\n%s\ngot:\n%s", tt.path, tt.want, sec)
			}
		})
	}
	synopsis := page[strings.Index(page, ".SH SYNOPSIS\n"):strings.Index(page, ".SH DESCRIPTION\n")]
	wantSynopsis := `.SH SYNOPSIS
.B mqtool
.I command
.RI [ options ]
.br
.B mqtool serve
[\-\-listen ADDR] [options]
.br
.B mqtool serve
\-\-help
.br
.B mqtool sub
.RI [ options ]
.br
.B mqtool bench
[options]
.br
.B mqtool bench conn
.br
.B mqtool bench merge
.I "FILE..."
`
	if diff := cmp.Diff(wantSynopsis, synopsis); diff != "" {
		t.Errorf("man SYNOPSIS mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(page, ".B mqtool bench merge\n.I \"FILE...\"\n") {
		t.Errorf("man SYNOPSIS lacks bench merge FILE...:\n%s", page)
	}
	if strings.Contains(page, "secret") {
		t.Errorf("man page shows hidden command or flag \"secret\"")
	}
}

func TestRoffEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"hyphen", "--qos", `\-\-qos`},
		{"backslash", `a\b`, `a\eb`},
		{"plain", "topic/#", "topic/#"},
		{"non-ASCII", "-1 or ∞", `\-1 or \[u221E]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := roffEscape(tt.in); got != tt.want {
				t.Errorf("roffEscape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	var b strings.Builder
	roffText(&b, ".starts with a dot\n'and a quote")
	if want := "\\&.starts with a dot\n\\&'and a quote\n"; b.String() != want {
		t.Errorf("roffText = %q, want %q", b.String(), want)
	}
}

// TestManExamples checks that every example is shown by the real tree and
// uses only flags its command has.
func TestManExamples(t *testing.T) {
	app := realApp()
	page := manPage(app)
	if got, want := len(examplesFor(app)), len(manExamples); got != want {
		t.Errorf("man page shows %d of %d examples: a command they use is missing", got, want)
	}
	for _, e := range manExamples {
		for _, line := range e.lines {
			if !strings.Contains(page, roffEscape(line)+"\n") {
				t.Errorf("man page lacks example %q", line)
			}
			fields := strings.Fields(line)
			c := findCommand(app.Commands, fields[1])
			if c == nil {
				continue
			}
			names := map[string]bool{}
			for _, f := range c.Flags {
				for _, n := range f.Names() {
					names[dashName(n)] = true
				}
			}
			for _, w := range fields[2:] {
				if strings.HasPrefix(w, "-") && !names[w] {
					t.Errorf("example %q: mqtool %s has no flag %s", line, c.Name, w)
				}
			}
		}
	}
}
