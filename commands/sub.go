package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func init() { commandList = append(commandList, subCommand) }

// subOptions is everything sub was asked to do.
type subOptions struct {
	conn           *connection
	subs           []*packet.Subscribe // one SUBSCRIBE per subscription identifier
	unsub          []string
	filterOut      []string
	count          int
	timeout        time.Duration
	exitAfterSub   bool
	noRetain       bool
	retainedOnly   bool
	removeRetained bool
	randomFilter   float64 // percentage printed; 100 prints all
	messageRate    bool
	output         format.Output
	unsubProps     packet.Properties
}

// outputFlags are the message output flags of sub and rr.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catOutput,
			Usage: "print \"topic payload\"; a zero-length payload prints (null) (default: false, the payload only)"},
		&cli.BoolFlag{Name: "N", Category: catOutput,
			Usage: "do not add a newline after each message (default: false)"},
		&cli.StringFlag{Name: "F", Category: catOutput,
			Usage: "print each message with mosquitto's `FORMAT`: %t topic, %p payload, %x hex, %j JSON, @ strftime, \\n escapes...; overrides -v (default: none)"},
		&cli.BoolFlag{Name: "pretty", Category: catOutput,
			Usage: "indent the JSON of %j, %J and --json (default: false)"},
		&cli.BoolFlag{Name: "json", Category: catOutput,
			Usage: "print one JSON object per line (topic, qos, retain, properties, payload; a non-UTF-8 payload is base64 with \"encoding\":\"base64\"); overrides -F and -v (default: false)"},
		&cli.StringFlag{Name: "color", Value: "auto", Category: catOutput,
			Usage: "colour output `WHEN`: auto (on a terminal, unless NO_COLOR is set), always or never (default: auto)"},
	}
}

// outputOptions reads the output flags.
func outputOptions(c *cli.Context, cmd string, s *format.Streams) (format.Output, error) {
	mode, err := format.ParseColorMode(c.String("color"))
	if err != nil {
		return format.Output{}, usagef(cmd, "--color must be auto, always or never.")
	}
	out := format.Output{
		Verbose: c.Bool("verbose"),
		Format:  c.String("F"),
		NoEOL:   c.Bool("N"),
		Pretty:  c.Bool("pretty"),
		JSON:    c.Bool("json"),
		Color:   s.Color(mode, false),
	}
	if _, err := format.NewPrinter(out); err != nil {
		var te *format.TemplateError
		if errors.As(err, &te) {
			return out, usagef(cmd, "%s", te.Text)
		}
		return out, usagef(cmd, "%v", err)
	}
	return out, nil
}

// subscriptionFlags are the subscription option flags of sub and rr; qos
// says what -q applies to.
func subscriptionFlags(qos string) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "qos", Aliases: []string{"q"}, Category: catSubscription,
			Usage: "QoS of " + qos + ", 0-2"},
		&cli.BoolFlag{Name: "R", Category: catSubscription,
			Usage: "do not print retained messages; at MQTT 5 asks for none (retain handling never) (default: false)"},
		&cli.BoolFlag{Name: "retain-as-published", Category: catSubscription,
			Usage: "MQTT 5: keep the retain flag of forwarded messages (default: false)"},
		&cli.StringFlag{Name: "retain-handling", Category: catSubscription,
			Usage: "MQTT 5: when the broker sends retained messages, `WHEN`: always, new (only for a new subscription) or never (default: always)"},
		&cli.BoolFlag{Name: "no-local", Category: catSubscription,
			Usage: "MQTT 5: do not receive this client's own messages (default: false)"},
	}
}

func subCommand(s *format.Streams) *cli.Command {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "topic", Aliases: []string{"t"}, Category: catSubscription,
			Usage: "subscribe to topic `FILTER`; repeatable (default: the -L path)"},
		&cli.StringSliceFlag{Name: "sub", Category: catSubscription,
			Usage: "subscribe with per-topic options: `OPTIONS:FILTER`, OPTIONS a comma list of qos=N, nl (no local), " +
				"rap (retain as published), rh=0|1|2 (retain handling), id=N (subscription identifier, MQTT 5); " +
				"everything after the first colon is the filter, e.g. --sub 'qos=1,nl,id=7:sensors/#'; repeatable (default: none)"},
		&cli.StringSliceFlag{Name: "filter-out", Aliases: []string{"T"}, Category: catSubscription,
			Usage: "do not print (or --remove-retained) messages whose topic matches `FILTER`; repeatable (default: none)"},
		&cli.StringSliceFlag{Name: "unsubscribe", Aliases: []string{"U"}, Category: catSubscription,
			Usage: "unsubscribe from `FILTER` after subscribing (for -c sessions); repeatable (default: none)"},
		&cli.IntFlag{Name: "C", Category: catSubscription,
			Usage: "exit after `N` messages (counting those not dropped by -R, -T, --retained-only) (default: 0, no limit)"},
		&cli.IntFlag{Name: "W", Category: catSubscription,
			Usage: "exit with code 27 and \"Timed out\" after `SECONDS` (default: 0, no timeout)"},
		&cli.BoolFlag{Name: "E", Category: catSubscription,
			Usage: "exit once every subscription is acknowledged (default: false)"},
		&cli.BoolFlag{Name: "retained-only", Category: catSubscription,
			Usage: "print only retained messages; exit at the first message that is not retained (default: false)"},
		&cli.BoolFlag{Name: "remove-retained", Category: catSubscription,
			Usage: "clear every retained message received (publish a zero-length retained message) (default: false)"},
		&cli.Float64Flag{Name: "random-filter", Value: 100, Category: catOutput,
			Usage: "print only this `PERCENT` of messages, chosen at random, 0.1-100"},
		&cli.BoolFlag{Name: "message-rate", Category: catOutput,
			Usage: "instead of messages, print the number received in each second, one line per second (default: false)"},
	}
	flags = append(flags, subscriptionFlags("the subscriptions")...)
	flags = append(flags, outputFlags()...)
	flags = append(flags, connectionFlags("sub")...)
	return &cli.Command{
		Name:      "sub",
		Usage:     "subscribe and print messages, like mosquitto_sub",
		UsageText: "mqtool sub {-t filter ... | -L URL | -U filter} [options]",
		Description: "Subscribes and prints each message, reconnecting and subscribing again if the link drops.\n" +
			"Flags, output (-v, -N, -F) and exit codes follow mosquitto_sub; -W times out with exit code 27.\n" +
			"The options file $XDG_CONFIG_HOME/mqtool/sub (else ~/.config/mqtool/sub) is read first.",
		Flags:        flags,
		OnUsageError: onUsageError("sub"),
		Action: func(c *cli.Context) error {
			o, err := newSubOptions(c, s)
			if err != nil {
				return err
			}
			return runSub(c.Context, o, s)
		},
	}
}

// subscriptionOptions reads -q, --retain-as-published, --retain-handling,
// -R and --no-local into a template subscription.
func subscriptionOptions(c *cli.Context, cmd string) (packet.Subscription, error) {
	var sub packet.Subscription
	qos := c.Int("qos")
	if qos < 0 || qos > 2 {
		return sub, usagef(cmd, "Invalid QoS given: %d", qos)
	}
	sub.QoS = packet.QoS(qos)
	sub.RetainAsPublished = c.Bool("retain-as-published")
	sub.NoLocal = c.Bool("no-local")
	if c.Bool("R") {
		sub.RetainHandling = packet.DoNotSendRetained
	}
	if c.IsSet("retain-handling") {
		switch v := c.String("retain-handling"); v {
		case "always":
			sub.RetainHandling = packet.SendRetained
		case "new":
			sub.RetainHandling = packet.SendRetainedIfNew
		case "never":
			sub.RetainHandling = packet.DoNotSendRetained
		default:
			return sub, usagef(cmd, "Unknown value '%s' for --retain-handling.", v)
		}
	}
	return sub, nil
}

// parseSubSpec parses --sub OPTIONS:FILTER on top of the template sub.
func parseSubSpec(spec string, sub packet.Subscription) (packet.Subscription, uint32, error) {
	opts, filter, ok := strings.Cut(spec, ":")
	if !ok {
		return sub, 0, fmt.Errorf("--sub needs OPTIONS:FILTER, got '%s'.", spec)
	}
	sub.Filter = filter
	var id uint32
	for _, opt := range strings.Split(opts, ",") {
		key, value, hasValue := strings.Cut(strings.TrimSpace(opt), "=")
		n, nerr := strconv.ParseUint(value, 10, 32)
		switch {
		case key == "":
		case key == "qos" && hasValue && nerr == nil && n <= 2:
			sub.QoS = packet.QoS(n)
		case key == "nl" && !hasValue:
			sub.NoLocal = true
		case key == "rap" && !hasValue:
			sub.RetainAsPublished = true
		case key == "rh" && hasValue && nerr == nil && n <= 2:
			sub.RetainHandling = packet.RetainHandling(n)
		case key == "id" && hasValue && nerr == nil && n >= 1 && n <= packet.MaxRemainingLength:
			id = uint32(n)
		default:
			return sub, 0, fmt.Errorf("Invalid --sub option '%s' (want qos=0-2, nl, rap, rh=0-2 or id=1-268435455).", opt)
		}
	}
	return sub, id, nil
}

func newSubOptions(c *cli.Context, s *format.Streams) (*subOptions, error) {
	const cmd = "sub"
	if err := checkNoArgs(c, cmd); err != nil {
		return nil, err
	}
	template, err := subscriptionOptions(c, cmd)
	if err != nil {
		return nil, err
	}
	if c.IsSet("C") && c.Int("C") < 1 {
		return nil, usagef(cmd, "Invalid message count \"%d\".", c.Int("C"))
	}
	if c.IsSet("W") && c.Int("W") < 1 {
		return nil, usagef(cmd, "Invalid timeout \"%d\".", c.Int("W"))
	}
	chance := c.Float64("random-filter")
	if int(chance*10) > 1000 || int(chance*10) < 1 {
		return nil, usagef(cmd, "--random-filter chance must be between 0.1-100.0")
	}
	type entry struct {
		sub packet.Subscription
		id  uint32
	}
	var entries []entry
	for _, t := range c.StringSlice("topic") {
		if err := checkTopic(cmd, t, "-t"); err != nil {
			return nil, err
		}
		sub := template
		sub.Filter = t
		entries = append(entries, entry{sub: sub})
	}
	for _, spec := range c.StringSlice("sub") {
		sub, id, err := parseSubSpec(spec, template)
		if err != nil {
			return nil, usagef(cmd, "%v", err)
		}
		if err := checkTopic(cmd, sub.Filter, "--sub"); err != nil {
			return nil, err
		}
		entries = append(entries, entry{sub: sub, id: id})
	}
	for _, fl := range []struct{ name, arg, kind string }{
		{"filter-out", "-T", "filter"}, {"unsubscribe", "-U", "unsubscribe"},
	} {
		for _, f := range c.StringSlice(fl.name) {
			if packet.CheckUTF8(f) != nil {
				return nil, usagef(cmd, "Malformed UTF-8 in %s argument.", fl.arg)
			}
			if packet.ValidTopicFilter(f) != nil {
				return nil, usagef(cmd, "Invalid %s topic '%s', are all '+' and '#' wildcards correct?", fl.kind, f)
			}
		}
	}
	output, err := outputOptions(c, cmd, s)
	if err != nil {
		return nil, err
	}
	cn, err := parseConnection(c, cmd, s)
	if err != nil {
		return nil, err
	}
	if cn.HasURLTopic {
		sub := template
		sub.Filter = cn.URLTopic
		entries = append([]entry{{sub: sub}}, entries...)
	}
	if len(entries) == 0 && len(c.StringSlice("unsubscribe")) == 0 {
		return nil, usagef(cmd, "You must specify a topic to subscribe to (-t) or unsubscribe from (-U).")
	}
	if c.Bool("R") && c.Bool("retained-only") {
		return nil, usagef(cmd, "Combining '-R' and '--retained-only' makes no sense.")
	}
	o := &subOptions{
		conn:           cn,
		unsub:          c.StringSlice("unsubscribe"),
		filterOut:      c.StringSlice("filter-out"),
		count:          c.Int("C"),
		timeout:        time.Duration(c.Int("W")) * time.Second,
		exitAfterSub:   c.Bool("E"),
		noRetain:       c.Bool("R"),
		retainedOnly:   c.Bool("retained-only"),
		removeRetained: c.Bool("remove-retained"),
		randomFilter:   chance,
		messageRate:    c.Bool("message-rate"),
		output:         output,
		unsubProps:     cn.Props.Unsubscribe,
	}
	byID := map[uint32]*packet.Subscribe{}
	for _, e := range entries {
		if e.id != 0 && cn.Options.Version != packet.V5 {
			return nil, usagef(cmd, "Subscription identifiers (--sub id=N) need MQTT 5 (-V 5).")
		}
		sp := byID[e.id]
		if sp == nil {
			sp = &packet.Subscribe{Props: cn.Props.Subscribe}
			sp.Props.User = append([]packet.UserProperty(nil), cn.Props.Subscribe.User...)
			if e.id != 0 {
				sp.Props.SubscriptionIDs = []uint32{e.id}
			}
			byID[e.id] = sp
			o.subs = append(o.subs, sp)
		}
		sp.Subscriptions = append(sp.Subscriptions, e.sub)
	}
	// As mosquitto: with -C below the default receive maximum, ask the
	// broker for no more than N unacknowledged messages at once.
	if o.count > 0 && o.count < 20 && cn.Options.Version == packet.V5 && !cn.Options.ConnectProps.Has(packet.PropReceiveMaximum) {
		_ = cn.Options.ConnectProps.SetUint(packet.PropReceiveMaximum, uint64(o.count))
	}
	return o, nil
}

// errStop ends a sub or rr run normally (count reached, stdout closed...).
var errStop = errors.New("stop")

// subRun is the state of one sub run across reconnections.
type subRun struct {
	o       *subOptions
	s       *format.Streams
	out     *outWriter
	printer *format.Printer

	link *client.Reconnector // set before clearLoop starts

	mu      sync.Mutex
	n       int
	stopped bool
	// subacked is set, for -E, when the last SUBACK has been read.
	subacked bool
	stopErr  error
	stopCh   chan struct{}
	rate     int
	clear    []string      // topics whose retained message is to be cleared
	clearCh  chan struct{} // signals clear was appended to
}

func (r *subRun) stop(err error) {
	if r.stopped {
		return
	}
	r.stopped = true
	r.stopErr = err
	close(r.stopCh)
}

// onMessage handles one message in the client's read goroutine.
func (r *subRun) onMessage(p *packet.Publish) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.o
	if r.stopped || r.subacked {
		return
	}
	if o.retainedOnly && !p.Retain {
		r.stop(nil)
		return
	}
	if p.Retain && o.noRetain {
		return
	}
	for _, f := range o.filterOut {
		if packet.Match(f, p.Topic) {
			return
		}
	}
	if o.removeRetained && p.Retain && len(p.Payload) > 0 {
		r.clear = append(r.clear, p.Topic)
		select {
		case r.clearCh <- struct{}{}:
		default:
		}
	}
	if o.randomFilter >= 100 || rand.Float64()*100 < o.randomFilter {
		if o.messageRate {
			r.rate++
		} else if err := r.printer.Print(r.out, p, time.Now()); err != nil {
			var notice interface{ Notice() string }
			if errors.As(err, &notice) {
				if !o.conn.Quiet {
					fmt.Fprint(r.s.Err, notice.Notice())
				}
			} else {
				// stdout is gone (| head): stop quietly, as mosquitto_sub does.
				r.stop(nil)
				return
			}
		}
	}
	if o.count > 0 {
		r.n++
		if r.n >= o.count {
			r.stop(nil)
		}
	}
}

// watchSubacks wraps trace to set subacked when the last SUBACK of a
// connection is read, before the messages that follow it are handled:
// mosquitto_sub -E exits on that SUBACK, so retained messages sent after it
// are not printed. It runs in the client's read goroutine.
func (r *subRun) watchSubacks(trace func(sent bool, p packet.Packet)) func(sent bool, p packet.Packet) {
	n := 0
	return func(sent bool, p packet.Packet) {
		if trace != nil {
			trace(sent, p)
		}
		if sent {
			return
		}
		switch p.(type) {
		case *packet.Connack:
			n = 0
		case *packet.Suback:
			if n++; n == len(r.o.subs) {
				r.mu.Lock()
				r.subacked = true
				r.mu.Unlock()
			}
		}
	}
}

// takeClear returns the topics waiting to be cleared.
func (r *subRun) takeClear() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.clear
	r.clear = nil
	return t
}

// runSub subscribes and prints messages until a stop condition, the
// timeout or ctx ends it. A client.Reconnector connects again if the link
// drops, and subscribes again unless the broker kept the session.
func runSub(ctx context.Context, o *subOptions, s *format.Streams) error {
	stopPipe := ignoreSIGPIPE()
	defer stopPipe()
	printer, err := format.NewPrinter(o.output)
	if err != nil {
		return usagef("sub", "%v", err)
	}
	out := newOutWriter(s.Out, s.OutTTY)
	defer out.Flush()
	r := &subRun{o: o, s: s, out: out, printer: printer,
		stopCh: make(chan struct{}), clearCh: make(chan struct{}, 1)}

	var tick <-chan time.Time
	if o.messageRate {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}

	opts := o.conn.Options
	opts.OnMessage = r.onMessage
	if o.exitAfterSub {
		opts.Trace = r.watchSubacks(opts.Trace)
	}
	// -W bounds connecting and reconnecting too.
	linkCtx := ctx
	var deadline time.Time
	if o.timeout > 0 {
		deadline = time.Now().Add(o.timeout)
		var cancel context.CancelFunc
		linkCtx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	subscribed := make(chan error, 1)
	link, err := client.Reconnect(linkCtx, opts, client.ReconnectOptions{
		Subscriptions: o.subs,
		// mosquitto_sub subscribes on every connect, kept session or not.
		AlwaysRenew: true,
		OnSubscribed: func(sctx context.Context, link *client.Reconnector, acks []*packet.Suback, err error) error {
			if err == nil {
				err = r.afterSubscribe(sctx, link, acks)
			}
			if err != nil && (sctx.Err() != nil || !link.Connected()) {
				// Stopping, or the link dropped: all again on the next
				// connection, nothing to report.
				return err
			}
			select {
			case subscribed <- err:
			case <-sctx.Done():
			}
			return err
		},
		OnConnectionLost: func(err error) {
			if o.conn.Debug {
				fmt.Fprintf(s.Err, "Connection lost: %v\n", err)
			}
		},
	})
	if err != nil {
		if ctx.Err() == nil && linkCtx.Err() != nil {
			err = errTimedOut
		}
		return dialFailure(ctx, s, err, o.conn.Quiet)
	}
	r.link = link
	var timeout <-chan time.Time
	if o.timeout > 0 {
		timeout = time.After(time.Until(deadline))
	}

	var clearWG sync.WaitGroup
	clearCtx, stopClear := context.WithCancel(ctx)
	defer stopClear()
	if o.removeRetained {
		clearWG.Add(1)
		go func() {
			defer clearWG.Done()
			r.clearLoop(clearCtx)
		}()
	}
	timedOut := func() error {
		err := finishSub(r, &clearWG, stopClear, packet.ReasonCode(0x04), nil)
		var ee *ExitError
		if err != nil && !errors.As(err, &ee) {
			return err
		}
		return timedOutErr(s, o.conn.Quiet)
	}

	for {
		select {
		case err := <-subscribed:
			if err != nil {
				if errors.Is(err, errStop) {
					return finishSub(r, &clearWG, stopClear, 0, nil)
				}
				if ctx.Err() != nil {
					continue
				}
				return finishSub(r, &clearWG, stopClear, 0, err)
			}
			if o.exitAfterSub {
				return finishSub(r, &clearWG, stopClear, 0, nil)
			}
		case <-r.stopCh:
			r.mu.Lock()
			err := r.stopErr
			r.mu.Unlock()
			return finishSub(r, &clearWG, stopClear, 0, err)
		case <-ctx.Done():
			return finishSub(r, &clearWG, stopClear, packet.ReasonCode(0x04), nil)
		case <-timeout:
			return timedOut()
		case <-tick:
			r.mu.Lock()
			n := r.rate
			r.rate = 0
			r.mu.Unlock()
			fmt.Fprintf(out, "%d\n", n)
			out.Flush()
		case <-link.Done():
			// Reconnection ended: an interrupt, -W, or a refusal.
			switch {
			case ctx.Err() != nil:
				return finishSub(r, &clearWG, stopClear, packet.ReasonCode(0x04), nil)
			case linkCtx.Err() != nil:
				return timedOut()
			}
			return finishSub(r, &clearWG, stopClear, 0, link.Err())
		}
	}
}

// dialWithTimeout connects within the -W timeout d (0: none) and returns
// a channel that fires when the rest of the timeout has passed.
func dialWithTimeout(ctx context.Context, opts client.Options, d time.Duration) (*client.Client, <-chan time.Time, error) {
	if d <= 0 {
		c, err := client.Dial(ctx, opts)
		return c, nil, err
	}
	deadline := time.Now().Add(d)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := client.Dial(dctx, opts)
	if err != nil {
		if ctx.Err() == nil && dctx.Err() != nil {
			return nil, nil, errTimedOut
		}
		return nil, nil, err
	}
	return c, time.After(time.Until(deadline)), nil
}

var errTimedOut = errors.New("timed out")

// dialFailure maps a failed first connection: -W expiry, an interrupt
// before CONNACK (mosquitto exits 255 there), or the cause.
func dialFailure(ctx context.Context, s *format.Streams, err error, quiet bool) error {
	if errors.Is(err, errTimedOut) {
		return timedOutErr(s, quiet)
	}
	if ctx.Err() != nil {
		return &ExitError{Code: 255, Err: ctx.Err(), Silent: true}
	}
	return clientExit(s, err, quiet)
}

// timedOutErr is -W expiring: "Timed out" and exit code 27.
func timedOutErr(s *format.Streams, quiet bool) error {
	if !quiet {
		fmt.Fprintln(s.Err, "Timed out")
	}
	return &ExitError{Code: exitTimeout, Err: errTimedOut, Silent: true}
}

// clearLoop publishes a zero-length retained QoS 1 message for each topic
// queued by onMessage (--remove-retained), until ctx ends.
func (r *subRun) clearLoop(ctx context.Context) {
	for {
		for _, t := range r.takeClear() {
			p := &packet.Publish{Topic: t, QoS: packet.AtLeastOnce, Retain: true}
			if err := r.link.Publish(context.WithoutCancel(ctx), p); err != nil && !r.o.conn.Quiet {
				fmt.Fprintf(r.s.Err, "Error: clearing retained message on %s: %v\n", t, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clearCh:
		}
	}
}

// finishSub drains --remove-retained publishes, sends DISCONNECT with rc
// (and the -D disconnect properties) and maps err to an exit code.
func finishSub(r *subRun, clearWG *sync.WaitGroup, stopClear context.CancelFunc, rc packet.ReasonCode, err error) error {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stopCh)
	}
	r.mu.Unlock()
	c := r.link.Stop()
	if r.o.removeRetained {
		// Publish what is still queued before disconnecting.
		for _, t := range r.takeClear() {
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.Publish(pctx, &packet.Publish{Topic: t, QoS: packet.AtLeastOnce, Retain: true})
			cancel()
		}
	}
	stopClear()
	clearWG.Wait()
	r.out.Flush()
	_ = r.o.conn.Disconnect(c, rc)
	return clientExit(r.s, err, r.o.conn.Quiet)
}

// afterSubscribe reports the SUBACKs of o's subscriptions, as
// mosquitto_sub does, and sends o's UNSUBSCRIBE. If the broker denied every
// subscription it says so and returns errStop.
func (r *subRun) afterSubscribe(ctx context.Context, link *client.Reconnector, acks []*packet.Suback) error {
	o, s := r.o, r.s
	granted := false
	var codes []string
	for _, ack := range acks {
		for _, rc := range ack.ReasonCodes {
			if !rc.IsError() {
				granted = true
			}
			codes = append(codes, strconv.Itoa(int(rc)))
		}
		if o.conn.Debug && !o.conn.Quiet {
			fmt.Fprintf(s.Err, "Subscribed (mid: %d): %s\n", ack.PacketID, strings.Join(codes, ", "))
		}
	}
	if len(o.subs) > 0 && !granted {
		if !o.conn.Quiet {
			fmt.Fprintln(s.Err, "All subscription requests were denied.")
		}
		return errStop
	}
	if len(o.unsub) > 0 {
		if _, err := link.Unsubscribe(ctx, &packet.Unsubscribe{Filters: o.unsub, Props: o.unsubProps}); err != nil {
			return err
		}
	}
	return nil
}

// ignoreSIGPIPE makes a write to a closed stdout return EPIPE instead of
// killing the process, so sub can disconnect cleanly under "| head".
func ignoreSIGPIPE() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPIPE)
	return func() { signal.Stop(ch) }
}

// outWriter buffers stdout when it is not a terminal and flushes within
// a millisecond of the last write, so a fast stream costs few system calls
// and a slow one is still shown at once. Write reports an earlier flush
// error.
type outWriter struct {
	mu      sync.Mutex
	w       io.Writer
	bw      *bufio.Writer
	timer   *time.Timer
	pending bool
	err     error
}

func newOutWriter(w io.Writer, tty bool) *outWriter {
	o := &outWriter{w: w}
	if !tty {
		o.bw = bufio.NewWriterSize(w, 64<<10)
	}
	return o
}

func (o *outWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	if o.bw == nil {
		n, err := o.w.Write(p)
		o.err = err
		return n, err
	}
	n, err := o.bw.Write(p)
	if err != nil {
		o.err = err
		return n, err
	}
	if !o.pending {
		o.pending = true
		if o.timer == nil {
			o.timer = time.AfterFunc(time.Millisecond, o.flushTimer)
		} else {
			o.timer.Reset(time.Millisecond)
		}
	}
	return n, nil
}

func (o *outWriter) flushTimer() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = false
	if o.bw != nil && o.err == nil {
		o.err = o.bw.Flush()
	}
}

// Flush writes out what is buffered.
func (o *outWriter) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.timer != nil {
		o.timer.Stop()
	}
	o.pending = false
	if o.bw != nil && o.err == nil {
		o.err = o.bw.Flush()
	}
	return o.err
}
