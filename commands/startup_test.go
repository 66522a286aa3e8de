package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
)

// TestLeanAppSameHelp checks that a command run through leanApp (only that
// command, flags wrapped by cacheNames) prints the same --help as the full
// command tree does, for each lean command and each of its subcommands.
func TestLeanAppSameHelp(t *testing.T) {
	var paths [][]string
	for _, c := range App(&format.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}).Commands {
		if _, ok := leanCommands[c.Name]; !ok {
			continue
		}
		paths = append(paths, []string{c.Name})
		for _, sc := range c.Subcommands {
			paths = append(paths, []string{c.Name, sc.Name})
		}
	}
	if len(paths) <= len(leanCommands) {
		t.Fatalf("help paths %q: want every lean command and some subcommands", paths)
	}
	for _, path := range paths {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			run := func(lean bool) string {
				var out, errb bytes.Buffer
				s := &format.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
				configureCLI(s)
				app := App(s)
				if lean {
					app = leanApp(s, append(append([]string{"mqtool"}, path...), "--help"))
				}
				args := append(append([]string{"mqtool"}, path...), "--help")
				if err := app.RunContext(context.Background(), args); err != nil {
					t.Fatalf("%s --help (lean %v): %v", name, lean, err)
				}
				return out.String() + errb.String()
			}
			full, lean := run(false), run(true)
			if full != lean {
				t.Errorf("%s --help differs:\nfull tree:\n%s\nlean app:\n%s", name, full, lean)
			}
			if name != "version" && !strings.Contains(lean, "--") {
				t.Errorf("%s --help lists no flags:\n%s", name, lean)
			}
		})
	}
}

// TestLeanAppOnlyNamed checks that leanApp builds only the named command,
// with every flag of it and of its subcommands wrapped, and nothing for
// the commands that need the whole tree.
func TestLeanAppOnlyNamed(t *testing.T) {
	s := &format.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	for name := range leanCommands {
		app := leanApp(s, []string{"mqtool", name})
		if app == nil || len(app.Commands) != 1 || app.Commands[0].Name != name {
			t.Fatalf("leanApp(%s) = %v, want only %s", name, app, name)
		}
		var check func(path string, c *cli.Command)
		check = func(path string, c *cli.Command) {
			for _, f := range c.Flags {
				if unwrap(f) == f {
					t.Errorf("%s flag %v (%T) not wrapped by cacheNames", path, f.Names(), f)
				}
				if got, want := f.Names(), unwrap(f).Names(); !slices.Equal(got, want) {
					t.Errorf("%s flag names %q, want urfave/cli's %q", path, got, want)
				}
			}
			for _, sc := range c.Subcommands {
				check(path+" "+sc.Name, sc)
			}
		}
		check(name, app.Commands[0])
	}
	for _, name := range []string{"completion", "man", "help", "nope", "-h"} {
		if leanApp(s, []string{"mqtool", name}) != nil {
			t.Errorf("leanApp(%q) != nil, want the full tree for it", name)
		}
	}
}

// TestFlagNames checks flagNames against urfave/cli's Names, including a
// name with a comma, which takes urfave's way.
func TestFlagNames(t *testing.T) {
	tests := []struct {
		name string
		f    *cli.StringFlag
	}{
		{"name only", &cli.StringFlag{Name: "topic"}},
		{"aliases", &cli.StringFlag{Name: "topic", Aliases: []string{"t", "T"}}},
		{"v1-style comma", &cli.StringFlag{Name: "topic, t"}},
		{"space in alias", &cli.StringFlag{Name: "topic", Aliases: []string{"t x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := flagNames(tt.f, tt.f.Name, tt.f.Aliases), tt.f.Names(); !slices.Equal(got, want) {
				t.Errorf("flagNames(%q, %q) = %q, want %q", tt.f.Name, tt.f.Aliases, got, want)
			}
		})
	}
}

// TestLeanAppCategories checks that leanApp keeps the flags' help
// categories only when an argument may ask for help.
func TestLeanAppCategories(t *testing.T) {
	s := &format.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"a run", []string{"mqtool", "pub", "-t", "a", "-m", "x"}, false},
		{"--help", []string{"mqtool", "pub", "-t", "a", "--help"}, true},
		{"-help", []string{"mqtool", "sub", "-help"}, true},
		{"--help=true", []string{"mqtool", "bench", "--help=true"}, true},
		{"help as a value keeps them too", []string{"mqtool", "pub", "-m", "help"}, true},
		{"no arguments", []string{"mqtool", "rr"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := leanApp(s, tt.args)
			got := false
			for _, f := range app.Commands[0].Flags {
				if cf, ok := f.(cli.CategorizableFlag); ok && cf.GetCategory() != "" {
					got = true
				}
			}
			if got != tt.want {
				t.Errorf("leanApp(%q): flags have categories = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

// TestOptionsFileHelp checks that help asked for in the default options
// file still shows the categories, which leanApp leaves out when the
// command line does not ask for help.
func TestOptionsFileHelp(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	if err := os.MkdirAll(filepath.Join(dir, "mqtool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mqtool", "pub"), []byte("--help\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var fromFile, direct bytes.Buffer
	for _, run := range []struct {
		out  *bytes.Buffer
		args []string
	}{{&fromFile, []string{"mqtool", "pub"}}, {&direct, []string{"mqtool", "pub", "--help"}}} {
		s := &format.Streams{In: strings.NewReader(""), Out: run.out, Err: &bytes.Buffer{}}
		if code := Main(context.Background(), run.args, s); code != 0 {
			t.Fatalf("%q = exit %d", run.args, code)
		}
	}
	if !strings.Contains(direct.String(), "   Connection\n") {
		t.Fatalf("pub --help shows no Connection category:\n%s", direct.String())
	}
	if fromFile.String() != direct.String() {
		t.Errorf("help from the options file differs from pub --help:\n%s\nwant:\n%s", fromFile.String(), direct.String())
	}
}
