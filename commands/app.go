// Package commands wires mqtool's command line: it parses flags into each
// command's options, calls the package that does the work and maps errors
// to exit codes. Only main exits.
package commands

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
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
	app := newApp(s)
	app.Commands = commands(s)
	return app
}

// newApp returns the app without its commands.
func newApp(s *format.Streams) *cli.App {
	return &cli.App{
		Name:                 "mqtool",
		Usage:                "an MQTT toolkit: broker, clients and load generator",
		Version:              version(),
		Reader:               s.In,
		Writer:               s.Out,
		ErrWriter:            s.Err,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {},
		// Topics may contain commas.
		DisableSliceFlagSeparator: true,
	}
}

func versionText() string {
	return fmt.Sprintf("mqtool %s (%s %s/%s)", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand(s *format.Streams) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of mqtool and of Go",
		Action: func(*cli.Context) error {
			fmt.Fprintln(s.Out, versionText())
			return nil
		},
	}
}

// commandList is extended by each command's file.
var commandList []func(s *format.Streams) *cli.Command

func commands(s *format.Streams) []*cli.Command {
	cmds := []*cli.Command{versionCommand(s)}
	for _, f := range commandList {
		cmds = append(cmds, f(s))
	}
	// Everyday commands first in --help, the man page and completions.
	rank := func(name string) int {
		for i, n := range commandOrder {
			if n == name {
				return i
			}
		}
		return len(commandOrder)
	}
	sort.SliceStable(cmds, func(i, j int) bool { return rank(cmds[i].Name) < rank(cmds[j].Name) })
	return cmds
}

var commandOrder = []string{"serve", "pub", "sub", "rr", "bench", "completion", "man", "version"}

// Main runs mqtool with args (args[0] is the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, s *format.Streams) int {
	configureCLI(s)
	app := leanApp(s, args)
	if app == nil {
		app = App(s)
	}
	prepared, err := prepareArgs(app, args)
	if err != nil {
		return exitCode(s, err)
	}
	if !mayAskHelp(commandArgs(args)) && mayAskHelp(commandArgs(prepared)) {
		// An options file asks for help, which needs the help categories
		// that leanApp left out.
		if lean := leanApp(s, prepared); lean != nil {
			app = lean
		}
	}
	args = prepared
	gateActions(app.Commands)
	err = app.RunContext(ctx, args)
	return exitCode(s, err)
}

// configureCLI sets urfave/cli's package-level help and version flags
// and version printer for a run writing to s.
func configureCLI(s *format.Streams) {
	cli.VersionPrinter = func(*cli.Context) { fmt.Fprintln(s.Out, versionText()) }
	// -h is --host in client commands, as in mosquitto; help is --help only.
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Usage: "show help"}
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
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

// Exit codes of mosquitto's clients (MOSQ_ERR_*) for failures other than a
// refused connection, whose code is the CONNACK's.
const (
	exitProtocol = 2
	exitConnLost = 7
	exitTLS      = 8
	exitErrno    = 14
	exitLookup   = 15
	exitTimeout  = 27
)

// v3ConnackText is mosquitto_connack_string for return codes 1-5, full
// stops included.
var v3ConnackText = [...]string{
	1: "Connection Refused: unacceptable protocol version.",
	2: "Connection Refused: identifier rejected.",
	3: "Connection Refused: broker unavailable.",
	4: "Connection Refused: bad user name or password.",
	5: "Connection Refused: not authorised.",
}

// clientExit maps err from a client command to mosquitto's exit code and
// message, printing the message to s.Err now unless quiet.
func clientExit(s *format.Streams, err error, quiet bool) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	var ue *usageError
	if errors.As(err, &ee) || errors.As(err, &ue) {
		return err
	}
	code, msg := 1, "Error: "+err.Error()
	var ce *client.ConnectError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	switch {
	case errors.As(err, &ce):
		code = ce.Code()
		if ce.Version == packet.V5 {
			msg = "Connection error: " + capitalize(ce.Connack.ReasonCode.String())
			if ce.Connack.ReasonCode == packet.ReasonCode(0x84) {
				msg += ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode."
			}
		} else if code > 0 && code < len(v3ConnackText) {
			msg = "Connection error: " + v3ConnackText[code]
		} else {
			msg = fmt.Sprintf("Connection error: Connection Refused: unknown reason (%d).", code)
		}
		if rs := ce.Connack.Props.ReasonString; rs != "" {
			msg += " (" + rs + ")"
		}
	case errors.As(err, &dnsErr):
		code = exitLookup
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &invalidErr), strings.Contains(err.Error(), "tls: "):
		code = exitTLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		code = exitErrno
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, client.ErrClosed):
		code = exitConnLost
	case errors.Is(err, packet.MalformedPacket), errors.Is(err, packet.ProtocolError):
		code = exitProtocol
	}
	if !quiet {
		fmt.Fprintln(s.Err, msg)
	}
	return &ExitError{Code: code, Err: err, Silent: true}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
