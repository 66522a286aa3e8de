package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func init() { commandList = append(commandList, pubCommand) }

// pubMode is where pub's message comes from.
type pubMode int

const (
	msgNone pubMode = iota
	msgCmd
	msgFile
	msgStdinFile
	msgStdinLine
	msgNull
)

// String returns the flag that selects m.
func (m pubMode) String() string {
	return [...]string{"none", "-m", "-f", "-s", "-l", "-n"}[m]
}

// pubOptions is everything pub was asked to do.
type pubOptions struct {
	conn        *connection
	topic       string
	qos         packet.QoS
	retain      bool
	mode        pubMode
	message     []byte
	repeat      int
	repeatDelay time.Duration
	props       packet.Properties
}

func messageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Category: catMessage,
			Usage: "send `MESSAGE` as the payload (default: none)"},
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Category: catMessage,
			Usage: "send the contents of `FILE` as one message (default: none)"},
		&cli.BoolFlag{Name: "stdin-file", Aliases: []string{"s"}, Category: catMessage,
			Usage: "send the whole of stdin as one message (default: false)"},
		&cli.BoolFlag{Name: "null-message", Aliases: []string{"n"}, Category: catMessage,
			Usage: "send a zero-length message (default: false)"},
	}
}

func pubCommand(s *format.Streams) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "topic", Aliases: []string{"t"}, Category: catMessage,
			Usage: "publish to `TOPIC` (no wildcards) (default: the -L path)"},
		&cli.IntFlag{Name: "qos", Aliases: []string{"q"}, Category: catMessage,
			Usage: "QoS of the messages, 0-2; QoS 1 and 2 wait for the broker's acknowledgement"},
		&cli.BoolFlag{Name: "retain", Aliases: []string{"r"}, Category: catMessage,
			Usage: "retain the message; a zero-length retained message clears the topic's retained message (default: false)"},
		&cli.BoolFlag{Name: "stdin-line", Aliases: []string{"l"}, Category: catMessage,
			Usage: "send each line of stdin as a message over one connection, reconnecting if the link drops; empty lines are zero-length messages (default: false)"},
		&cli.IntFlag{Name: "repeat", Value: 1, Category: catMessage,
			Usage: "publish the -m, -f, -s or -n message `N` times"},
		&cli.Float64Flag{Name: "repeat-delay", Category: catMessage,
			Usage: "wait `SECONDS` (fractions allowed) between repeated messages"},
	}
	flags = append(flags, messageFlags()...)
	flags = append(flags, connectionFlags("pub")...)
	return &cli.Command{
		Name:      "pub",
		Usage:     "publish messages, like mosquitto_pub",
		UsageText: "mqtool pub {-t topic | -L URL} {-m message | -f file | -s | -l | -n} [options]",
		Description: "Publishes one message (or --repeat N, or one per stdin line with -l) and exits once\n" +
			"QoS 1/2 messages are acknowledged. Flags, output and exit codes follow mosquitto_pub.\n" +
			"The options file $XDG_CONFIG_HOME/mqtool/pub (else ~/.config/mqtool/pub) is read first.",
		Flags:        flags,
		OnUsageError: onUsageError("pub"),
		Action: func(c *cli.Context) error {
			o, err := newPubOptions(c, s)
			if err != nil {
				return err
			}
			return runPub(c.Context, o, s)
		},
	}
}

// onUsageError turns urfave/cli's flag errors into mosquitto-style
// usage errors for cmd.
func onUsageError(cmd string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			return usagef(cmd, "Unknown option '%s'.", f)
		}
		if f, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
			return usagef(cmd, "%s argument given but no value specified.", f)
		}
		return usagef(cmd, "%s", msg)
	}
}

// checkNoArgs rejects positional arguments, which mosquitto's clients do
// not take.
func checkNoArgs(c *cli.Context, cmd string) error {
	if c.Args().Len() > 0 {
		return usagef(cmd, "Unknown option '%s'.", c.Args().First())
	}
	return nil
}

// messageSource reads -m, -f, -s, -l and -n (those cmd has), allowing one.
func messageSource(c *cli.Context, cmd string) (pubMode, error) {
	mode := msgNone
	for _, f := range []struct {
		name string
		mode pubMode
	}{{"message", msgCmd}, {"file", msgFile}, {"stdin-file", msgStdinFile}, {"stdin-line", msgStdinLine}, {"null-message", msgNull}} {
		if !c.IsSet(f.name) {
			continue
		}
		if mode != msgNone {
			return msgNone, usagef(cmd, "Only one type of message can be sent at once.")
		}
		mode = f.mode
	}
	return mode, nil
}

func newPubOptions(c *cli.Context, s *format.Streams) (*pubOptions, error) {
	const cmd = "pub"
	if err := checkNoArgs(c, cmd); err != nil {
		return nil, err
	}
	mode, err := messageSource(c, cmd)
	if err != nil {
		return nil, err
	}
	qos := c.Int("qos")
	if qos < 0 || qos > 2 {
		return nil, usagef(cmd, "Invalid QoS given: %d", qos)
	}
	if c.Int("repeat") < 1 {
		return nil, usagef(cmd, "--repeat argument must be >0.")
	}
	delay := c.Float64("repeat-delay")
	if delay < 0 {
		return nil, usagef(cmd, "--repeat-delay argument must be >=0.0.")
	}
	if c.IsSet("topic") {
		if err := checkTopic(cmd, c.String("topic"), "-t"); err != nil {
			return nil, err
		}
	}
	cn, err := parseConnection(c, cmd, s)
	if err != nil {
		return nil, err
	}
	o := &pubOptions{
		conn:        cn,
		qos:         packet.QoS(qos),
		retain:      c.Bool("retain"),
		mode:        mode,
		repeat:      c.Int("repeat"),
		repeatDelay: time.Duration(delay * float64(time.Second)),
		props:       cn.Props.Publish,
	}
	switch {
	case c.IsSet("topic"):
		o.topic = c.String("topic")
	case cn.HasURLTopic:
		o.topic = cn.URLTopic
	}
	if o.message, err = loadMessage(c, s, mode, cn.Quiet); err != nil {
		return nil, err
	}
	if (!c.IsSet("topic") && !cn.HasURLTopic) || mode == msgNone {
		return nil, usagef(cmd, "Both topic and message must be supplied.")
	}
	return o, nil
}

// loadMessage returns the payload of -m, -f or -s (nil for the other
// modes), with mosquitto's messages when a file or stdin cannot be read.
func loadMessage(c *cli.Context, s *format.Streams, mode pubMode, quiet bool) ([]byte, error) {
	switch mode {
	case msgCmd:
		return []byte(c.String("message")), nil
	case msgFile:
		name := c.String("file")
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, &ExitError{Code: 1, Err: err, Silent: printNow(s, quiet,
				"Error: Unable to open file \"%s\".\nError loading input file \"%s\".", name, name)}
		}
		return b, nil
	case msgStdinFile:
		b, err := readAll(c.Context, s)
		if errors.Is(err, errInterrupted) {
			return nil, interrupted()
		}
		if err == nil && len(b) == 0 {
			return nil, &ExitError{Code: 1, Err: errors.New("zero length input"), Silent: printNow(s, quiet,
				"Error: Zero length input.\nError loading input from stdin.")}
		}
		if err != nil {
			return nil, &ExitError{Code: 1, Err: err, Silent: printNow(s, quiet, "Error loading input from stdin.")}
		}
		return b, nil
	}
	return nil, nil
}

// printNow prints a mosquitto runtime error line unless quiet, and
// reports true so the ExitError is silent either way.
func printNow(s *format.Streams, quiet bool, f string, args ...any) bool {
	if !quiet {
		fmt.Fprintf(s.Err, f+"\n", args...)
	}
	return true
}

// runPub connects, publishes as o says and disconnects.
func runPub(ctx context.Context, o *pubOptions, s *format.Streams) error {
	if o.mode == msgStdinLine {
		return pubLines(ctx, o, s)
	}
	c, err := client.Dial(ctx, o.conn.Options)
	if err != nil {
		return dialPubFailure(ctx, s, err, o.conn.Quiet)
	}
	retain := o.retain && retainAvailable(c)
	for i := 0; i < o.repeat; i++ {
		if i > 0 && o.repeatDelay > 0 {
			t := time.NewTimer(o.repeatDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return finishPub(c, o, s, nil)
			case <-t.C:
			}
		}
		p := &packet.Publish{Topic: o.topic, QoS: o.qos, Retain: retain, Payload: o.message, Props: o.props}
		if err := c.Publish(ctx, p); err != nil {
			var rc packet.ReasonCode
			if errors.As(err, &rc) && rc.IsError() {
				if !o.conn.Quiet {
					fmt.Fprintf(s.Err, "Warning: Publish %d failed: %s.\n", p.PacketID, capitalize(rc.String()))
				}
				continue
			}
			if ctx.Err() != nil {
				return finishPub(c, o, s, nil)
			}
			c.Close()
			return clientExit(s, err, o.conn.Quiet)
		}
	}
	return finishPub(c, o, s, nil)
}

// finishPub sends DISCONNECT and returns err mapped to an exit code.
func finishPub(c *client.Client, o *pubOptions, s *format.Streams, err error) error {
	derr := o.conn.Disconnect(c, 0)
	if err == nil && derr != nil && !errors.Is(derr, client.ErrClosed) {
		err = derr
	}
	return clientExit(s, err, o.conn.Quiet)
}

// dialPubFailure maps a failed connection: an interrupt before CONNACK
// exits 130, anything else as clientExit says.
func dialPubFailure(ctx context.Context, s *format.Streams, err error, quiet bool) error {
	if ctx.Err() != nil {
		return interrupted()
	}
	return clientExit(s, err, quiet)
}

func retainAvailable(c *client.Client) bool { return connackRetain(c.Connack()) }

// connackRetain reports whether the server that sent ca takes retained
// messages.
func connackRetain(ca *packet.Connack) bool {
	return ca == nil || !ca.Props.Has(packet.PropRetainAvailable) || ca.Props.RetainAvailable != 0
}

// pubLines publishes each line of stdin (without its newline) over one
// connection, pipelined up to the in-flight window. A client.Reconnector
// connects again if the link drops; a line that could not be sent then
// goes out on the new connection. An interrupt ends it even while it waits
// for a line.
func pubLines(ctx context.Context, o *pubOptions, s *format.Streams) error {
	link, err := client.Reconnect(ctx, o.conn.Options, client.ReconnectOptions{})
	if err != nil {
		return dialPubFailure(ctx, s, err, o.conn.Quiet)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	done := func(err error) {
		defer wg.Done()
		var rc packet.ReasonCode
		switch {
		case err == nil:
		case errors.As(err, &rc) && rc.IsError():
			if !o.conn.Quiet {
				mu.Lock()
				fmt.Fprintf(s.Err, "Warning: Publish failed: %s.\n", capitalize(rc.String()))
				mu.Unlock()
			}
		default:
			mu.Lock()
			failed = err
			mu.Unlock()
		}
	}
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	lines := make(chan []byte, 256)
	var readErr error // set before lines is closed
	go func() {
		defer close(lines)
		readErr = readLines(readCtx, s.In, lines)
	}()

	for {
		var payload []byte
		var ok bool
		select {
		case <-ctx.Done():
			wg.Wait()
			return finishLines(ctx, link.Stop(), o, s, nil)
		case <-link.Done():
			// Reconnection ended: a refusal (or ctx, as above).
			wg.Wait()
			return finishLines(ctx, link.Stop(), o, s, link.Err())
		case payload, ok = <-lines:
		}
		if !ok {
			break
		}
		retain := o.retain && connackRetain(link.Connack())
		p := &packet.Publish{Topic: o.topic, QoS: o.qos, Retain: retain, Payload: payload, Props: o.props}
		wg.Add(1)
		if perr := link.PublishAsync(ctx, p, done); perr != nil {
			wg.Done()
			wg.Wait()
			return finishLines(ctx, link.Stop(), o, s, perr)
		}
	}
	wg.Wait()
	c := link.Stop()
	if err := link.Err(); err != nil && ctx.Err() == nil {
		c.Close()
		return clientExit(s, err, o.conn.Quiet) // a refused reconnection
	}
	if readErr != nil {
		return finishPub(c, o, s, fmt.Errorf("read stdin: %w", readErr))
	}
	mu.Lock()
	err = failed
	mu.Unlock()
	if err != nil && ctx.Err() == nil && !connected(c) {
		c.Close()
		return clientExit(s, err, o.conn.Quiet)
	}
	return finishPub(c, o, s, nil)
}

// finishLines ends pub -l early on c, the last connection: after an
// interrupt with a DISCONNECT if the link is up (quietly if it is down),
// after a refused reconnection with the refusal, else with err.
func finishLines(ctx context.Context, c *client.Client, o *pubOptions, s *format.Streams, err error) error {
	if ctx.Err() != nil {
		if !connected(c) {
			return nil
		}
		return finishPub(c, o, s, nil)
	}
	if !connected(c) {
		c.Close()
		return clientExit(s, err, o.conn.Quiet)
	}
	return finishPub(c, o, s, err)
}

// connected reports whether c's connection is up.
func connected(c *client.Client) bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// readLines sends each line of r, without its newline, to lines until EOF
// (a last line without a newline is sent too) or ctx ends.
func readLines(ctx context.Context, r io.Reader, lines chan<- []byte) error {
	in := bufio.NewReaderSize(r, 64<<10)
	var pending []byte
	for {
		line, err := in.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			pending = append(pending, line...)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		eof := err != nil
		if len(line) == 0 && len(pending) == 0 && eof {
			return nil
		}
		payload := make([]byte, 0, len(pending)+len(line))
		payload = append(append(payload, pending...), line...)
		pending = pending[:0]
		if n := len(payload); n > 0 && payload[n-1] == '\n' {
			payload = payload[:n-1]
		}
		select {
		case lines <- payload:
		case <-ctx.Done():
			return nil
		}
		if eof {
			return nil
		}
	}
}

// errInterrupted is an interrupt while waiting for input.
var errInterrupted = errors.New("interrupted")

// interrupted is the exit for an interrupt before connecting: 130, as a
// shell reports a process ended by SIGINT.
func interrupted() error { return &ExitError{Code: 130, Err: errInterrupted, Silent: true} }

// readAll reads all of stdin, or returns errInterrupted when ctx ends
// first (the read itself goes on until the process exits).
func readAll(ctx context.Context, s *format.Streams) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(s.In)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, errInterrupted
	}
}
