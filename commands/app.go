// Package commands wires mqtool's command line: it parses flags into each
// command's options, calls the package that does the work and maps errors
// to exit codes. Only main exits.
package commands

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
)

// Version is set at build time with -ldflags "-X github.com/mqtool/mqtool/commands.Version=...".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// ExitError carries the process exit code for an error.
type ExitError struct {
	Code int
	Err  error
	// Silent errors were already reported to the user.
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a bad argument: exit 1 with a hint to --help, like mosquitto.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd, f string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(f, args...)}
}

// App returns the mqtool command tree writing to s.
func App(s *format.Streams) *cli.App {
	app := &cli.App{
		Name:                 "mqtool",
		Usage:                "an MQTT toolkit: broker, clients and load generator",
		Version:              version(),
		Reader:               s.In,
		Writer:               s.Out,
		ErrWriter:            s.Err,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {},
		Commands:             commands(s),
	}
	return app
}

func versionText() string {
	return fmt.Sprintf("mqtool %s (%s %s/%s)", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// commandList is extended by each command's file.
var commandList []func(s *format.Streams) *cli.Command

func commands(s *format.Streams) []*cli.Command {
	cmds := []*cli.Command{{
		Name:  "version",
		Usage: "print the version of mqtool and of Go",
		Action: func(*cli.Context) error {
			fmt.Fprintln(s.Out, versionText())
			return nil
		},
	}}
	for _, f := range commandList {
		cmds = append(cmds, f(s))
	}
	return cmds
}

// Main runs mqtool with args (args[0] is the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, s *format.Streams) int {
	cli.VersionPrinter = func(*cli.Context) { fmt.Fprintln(s.Out, versionText()) }
	// -h is --host in client commands, as in mosquitto; help is --help only.
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Usage: "show help"}
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	err := App(s).RunContext(ctx, args)
	return exitCode(s, err)
}

func exitCode(s *format.Streams, err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(s.Err, "Error: %v\nUse 'mqtool %s --help' to see usage.\n", ue.err, ue.cmd)
		return 1
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if !ee.Silent && ee.Err != nil {
			fmt.Fprintf(s.Err, "Error: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(s.Err, "Error: %v\n", err)
	return 1
}
