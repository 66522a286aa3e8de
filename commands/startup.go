package commands

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
)

// Start-up cost. A client command's whole run is a few milliseconds, so
// what cli.App does before the action matters: App.Setup formats every
// flag of every command for its help categories, and Command.Run asks each
// flag's Names (a regular expression per name) once per flag, quadratic in
// the number of flags. leanApp builds only the command being run, with
// cached names, and without help categories unless help may be shown.

// leanCommands builds the commands whose run needs no other command;
// completion and man walk the whole tree, so they are not here.
var leanCommands = map[string]func(*format.Streams) *cli.Command{
	"serve": serveCommand, "pub": pubCommand, "sub": subCommand, "rr": rrCommand,
	"bench": benchCommand, "version": versionCommand,
}

// leanApp returns the app for args (args[1] is the command) with only the
// command named, its flags answering Names from a list computed once, or
// nil when args name no lean command. Top-level help, which lists every
// command, is never shown when a command is named, so nothing else is
// needed. Unless an argument may ask for help, the flags lose their help
// categories, which only help shows: App.Setup would format every flag to
// sort them into categories.
func leanApp(s *format.Streams, args []string) *cli.App {
	if len(args) < 2 {
		return nil
	}
	build, ok := leanCommands[args[1]]
	if !ok {
		return nil
	}
	c := build(s)
	cacheTreeNames(c, mayAskHelp(commandArgs(args)))
	app := newApp(s)
	app.Commands = []*cli.Command{c}
	return app
}

// commandArgs returns the arguments after the command's name in args.
func commandArgs(args []string) []string {
	if len(args) < 2 {
		return nil
	}
	return args[2:]
}

// mayAskHelp reports whether an argument could be urfave/cli's help flag
// (--help, -help, --help=true, ...) or help command; a value that looks
// like one only costs the categories' time.
func mayAskHelp(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), "help") {
			return true
		}
	}
	return false
}

// cacheTreeNames applies cacheNames to c and its subcommands.
func cacheTreeNames(c *cli.Command, categories bool) {
	c.Flags = cacheNames(c.Flags, categories)
	for _, sc := range c.Subcommands {
		cacheTreeNames(sc, categories)
	}
}

// cacheNames wraps each flag of a type mqtool uses so that Names returns a
// slice computed once; other flags are kept as they are. The wrappers
// embed the flag, so every other method (and interface) is the flag's own,
// except String, which formats the wrapper so that the help text (which
// App.Setup builds for every flag) uses the cached names too.
func cacheNames(fs []cli.Flag, categories bool) []cli.Flag {
	out := make([]cli.Flag, len(fs))
	for i, f := range fs {
		switch f := f.(type) {
		case *cli.BoolFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedBool{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.StringFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedString{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.IntFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedInt{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.DurationFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedDuration{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.StringSliceFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedStringSlice{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.IntSliceFlag:
			keepCategory(&f.Category, categories)
			out[i] = &namedIntSlice{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.Float64Flag:
			keepCategory(&f.Category, categories)
			out[i] = &namedFloat64{f, flagNames(f, f.Name, f.Aliases)}
		case *cli.Uint64Flag:
			keepCategory(&f.Category, categories)
			out[i] = &namedUint64{f, flagNames(f, f.Name, f.Aliases)}
		default:
			out[i] = f
		}
	}
	return out
}

// keepCategory clears *category unless categories are kept.
func keepCategory(category *string, keep bool) {
	if !keep {
		*category = ""
	}
}

type namedBool struct {
	*cli.BoolFlag
	names []string
}

func (f *namedBool) Names() []string { return f.names }
func (f *namedBool) String() string  { return cli.FlagStringer(f) }

type namedString struct {
	*cli.StringFlag
	names []string
}

func (f *namedString) Names() []string { return f.names }
func (f *namedString) String() string  { return cli.FlagStringer(f) }

type namedInt struct {
	*cli.IntFlag
	names []string
}

func (f *namedInt) Names() []string { return f.names }
func (f *namedInt) String() string  { return cli.FlagStringer(f) }

type namedDuration struct {
	*cli.DurationFlag
	names []string
}

func (f *namedDuration) Names() []string { return f.names }
func (f *namedDuration) String() string  { return cli.FlagStringer(f) }

type namedStringSlice struct {
	*cli.StringSliceFlag
	names []string
}

func (f *namedStringSlice) Names() []string { return f.names }
func (f *namedStringSlice) String() string  { return cli.FlagStringer(f) }

type namedIntSlice struct {
	*cli.IntSliceFlag
	names []string
}

func (f *namedIntSlice) Names() []string { return f.names }
func (f *namedIntSlice) String() string  { return cli.FlagStringer(f) }

type namedFloat64 struct {
	*cli.Float64Flag
	names []string
}

func (f *namedFloat64) Names() []string { return f.names }
func (f *namedFloat64) String() string  { return cli.FlagStringer(f) }

type namedUint64 struct {
	*cli.Uint64Flag
	names []string
}

func (f *namedUint64) Names() []string { return f.names }
func (f *namedUint64) String() string  { return cli.FlagStringer(f) }

// flagNames is f.Names() for a flag named name with aliases, without the
// regular expression urfave/cli runs to cut each name at a comma or space
// (about 0.2 ms for pub's flags at start-up): mqtool's names have neither,
// and a name that did would go urfave's way.
func flagNames(f cli.Flag, name string, aliases []string) []string {
	names := append([]string{name}, aliases...)
	for _, n := range names {
		if strings.ContainsAny(n, ", ") {
			return f.Names()
		}
	}
	return names
}

// unwrap returns the flag a cacheNames wrapper holds, or f.
func unwrap(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *namedBool:
		return f.BoolFlag
	case *namedString:
		return f.StringFlag
	case *namedInt:
		return f.IntFlag
	case *namedDuration:
		return f.DurationFlag
	case *namedStringSlice:
		return f.StringSliceFlag
	case *namedIntSlice:
		return f.IntSliceFlag
	case *namedFloat64:
		return f.Float64Flag
	case *namedUint64:
		return f.Uint64Flag
	}
	return f
}
