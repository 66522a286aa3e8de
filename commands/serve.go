package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func init() { commandList = append(commandList, serveCommand) }

const (
	catListeners = "Listeners"
	catLimits    = "Limits"
	catLogging   = "Logging"
)

// serveOptions is everything serve was asked to do.
type serveOptions struct {
	addrs   []string // host:port to listen on
	verbose bool
	debug   bool
	quiet   bool
	broker  broker.Options
}

func serveCommand(s *format.Streams) *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run an MQTT 3.1, 3.1.1 and 5.0 broker (anonymous, loopback by default)",
		UsageText: "mqtool serve [-p PORT]... [--listen HOST:PORT]... [-v | --debug | -q] [limits]",
		Flags: []cli.Flag{
			&cli.IntSliceFlag{Name: "port", Aliases: []string{"p"}, Category: catListeners,
				Usage: "listen on 127.0.0.1:`PORT`; repeatable (default: 1883 when no listener is given)"},
			&cli.StringSliceFlag{Name: "listen", Category: catListeners,
				Usage: "listen on `HOST:PORT`; port 0 picks a free port; repeatable (default: none)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catLogging,
				Usage: "log connects, disconnects and subscribes, one line each"},
			&cli.BoolFlag{Name: "debug", Category: catLogging,
				Usage: "as -v, and log every packet received and sent, in mosquitto -v's words"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catLogging,
				Usage: "log nothing but errors, not even the listening lines"},
			&cli.IntFlag{Name: "max-inflight-messages", Value: 20, Category: catLimits,
				Usage: "outgoing QoS 1 and 2 messages in flight per client, `N` messages; 0 = no limit"},
			&cli.IntFlag{Name: "max-queued-messages", Value: 1000, Category: catLimits,
				Usage: "QoS 1 and 2 messages queued per client beyond those in flight, `N` messages; 0 = no limit"},
			&cli.IntFlag{Name: "max-queued-bytes", Value: 0, Category: catLimits,
				Usage: "payload bytes queued per client, `BYTES`; 0 = no limit"},
			&cli.IntFlag{Name: "max-packet-size", Value: 0, Category: catLimits,
				Usage: "largest packet accepted, `BYTES` (at least 20); 0 = the protocol maximum of 268435460"},
			&cli.IntFlag{Name: "max-keepalive", Value: 65535, Category: catLimits,
				Usage: "largest keep alive granted, `SECONDS` (1-65535); v5 clients asking more get Server Keep Alive"},
			&cli.IntFlag{Name: "max-qos", Value: 2, Category: catLimits,
				Usage: "highest QoS accepted and granted, `QOS` 0-2; v5 clients are told in CONNACK"},
			&cli.IntFlag{Name: "sys-interval", Value: 10, Category: catLimits,
				Usage: "publish $SYS topics every `SECONDS`; 0 = never"},
		},
		OnUsageError: onUsageError("serve"),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("serve", "Unknown option '%s'.", c.Args().First())
			}
			opts, err := newServeOptions(c)
			if err != nil {
				return err
			}
			return runServe(c.Context, opts, s)
		},
	}
}

func newServeOptions(c *cli.Context) (*serveOptions, error) {
	o := &serveOptions{verbose: c.Bool("verbose"), debug: c.Bool("debug"), quiet: c.Bool("quiet")}
	if (o.verbose || o.debug) && o.quiet {
		return nil, usagef("serve", "-q cannot be used with -v or --debug.")
	}
	for _, p := range c.IntSlice("port") {
		if p < 0 || p > 65535 {
			return nil, usagef("serve", "Invalid port given: %d", p)
		}
		o.addrs = append(o.addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	for _, a := range c.StringSlice("listen") {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, usagef("serve", "Invalid --listen address %q: want HOST:PORT.", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, usagef("serve", "Invalid port in --listen %q.", a)
		}
		o.addrs = append(o.addrs, a)
	}
	if len(o.addrs) == 0 {
		o.addrs = []string{"127.0.0.1:1883"}
	}
	b := &o.broker
	limit := func(name string, lo, hi int) (int, error) {
		v := c.Int(name)
		if v < lo || v > hi {
			return 0, usagef("serve", "--%s must be between %d and %d, got %d.", name, lo, hi, v)
		}
		return v, nil
	}
	var err error
	if b.MaxInflightMessages, err = limit("max-inflight-messages", 0, 65535); err != nil {
		return nil, err
	}
	if b.MaxQueuedMessages, err = limit("max-queued-messages", 0, 1<<30); err != nil {
		return nil, err
	}
	if b.MaxQueuedBytes, err = limit("max-queued-bytes", 0, 1<<62); err != nil {
		return nil, err
	}
	if b.MaxPacketSize, err = limit("max-packet-size", 0, 268435460); err != nil {
		return nil, err
	}
	if b.MaxPacketSize > 0 && b.MaxPacketSize < 20 {
		return nil, usagef("serve", "--max-packet-size must be at least 20, got %d.", b.MaxPacketSize)
	}
	if b.MaxKeepalive, err = limit("max-keepalive", 1, 65535); err != nil {
		return nil, err
	}
	mq, err := limit("max-qos", 0, 2)
	if err != nil {
		return nil, err
	}
	q := packet.QoS(mq)
	b.MaxQoS = &q
	sys, err := limit("sys-interval", 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	// In broker.Options 0 means the default; mosquitto's 0 means never.
	if b.MaxInflightMessages == 0 {
		b.MaxInflightMessages = -1
	}
	if b.MaxQueuedMessages == 0 {
		b.MaxQueuedMessages = -1
	}
	b.SysInterval = time.Duration(sys) * time.Second
	if sys == 0 {
		b.SysInterval = -1
	}
	return o, nil
}

// runServe listens on every address, serves until ctx is done and returns
// nil after a clean stop.
func runServe(ctx context.Context, o *serveOptions, s *format.Streams) error {
	var logMu sync.Mutex
	logf := func(w io.Writer, msg string) {
		logMu.Lock()
		fmt.Fprintf(w, "%d: %s\n", time.Now().Unix(), msg)
		logMu.Unlock()
	}
	o.broker.Version = version()
	o.broker.LogLevel = broker.LogNotice
	switch {
	case o.debug:
		o.broker.LogLevel = broker.LogDebug
	case o.verbose:
		o.broker.LogLevel = broker.LogInfo
	case o.quiet:
		o.broker.LogLevel = broker.LogError
	}
	o.broker.Log = func(_ broker.LogLevel, msg string) { logf(s.Err, msg) }

	var lns []net.Listener
	for _, a := range o.addrs {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("cannot listen on %s: %w", a, unwrapOp(err))}
		}
		lns = append(lns, ln)
	}
	srv := broker.New(o.broker)
	// One Serve call for every listener, so that they stop together: the
	// wills go out to subscribers on all of them before any is closed.
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ctx, lns...) }()
	if !o.quiet {
		for _, ln := range lns {
			logMu.Lock()
			fmt.Fprintf(s.Err, "mqtool: listening on mqtt://%s\n", ln.Addr())
			logMu.Unlock()
		}
	}
	if err := <-errs; err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	return nil
}

// unwrapOp drops net.OpError's own "listen tcp ADDR:" prefix, since the
// message already names the address.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
