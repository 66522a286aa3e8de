package commands

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func init() { commandList = append(commandList, rrCommand) }

// rrOptions is everything rr was asked to do.
type rrOptions struct {
	pub      *pubOptions
	response packet.Subscription
	subProps packet.Properties
	timeout  time.Duration
	noRetain bool
	latency  bool
	output   format.Output
}

func rrCommand(s *format.Streams) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "topic", Aliases: []string{"t"}, Category: catMessage,
			Usage: "send the request to `TOPIC` (default: the -L path)"},
		&cli.StringFlag{Name: "e", Category: catMessage,
			Usage: "wait for the response on `TOPIC` (sent as the Response Topic property at MQTT 5) (default: none)"},
		&cli.IntFlag{Name: "W", Category: catSubscription,
			Usage: "exit with code 27 and \"Timed out\" if no response comes within `SECONDS` (default: 0, wait for ever)"},
		&cli.BoolFlag{Name: "latency", Category: catOutput,
			Usage: "print the time from sending the request to receiving the response (sets --nodelay) (default: false)"},
	}
	flags = append(flags, messageFlags()...)
	flags = append(flags, subscriptionFlags("the request and of the response subscription")...)
	flags = append(flags, outputFlags()...)
	flags = append(flags, connectionFlags("rr")...)
	return &cli.Command{
		Name:      "rr",
		Usage:     "send a request and print the response, like mosquitto_rr",
		UsageText: "mqtool rr {-t topic | -L URL} -e response-topic {-m message | -f file | -s | -n} [options]",
		Description: "Subscribes to the response topic, publishes the request with the Response Topic and a\n" +
			"generated Correlation Data property (MQTT 5, the default), prints the first response and\n" +
			"exits. Responses carrying other correlation data are ignored.\n" +
			"The options file $XDG_CONFIG_HOME/mqtool/rr (else ~/.config/mqtool/rr) is read first.",
		Flags:        flags,
		OnUsageError: onUsageError("rr"),
		Action: func(c *cli.Context) error {
			o, err := newRROptions(c, s)
			if err != nil {
				return err
			}
			return runRR(c.Context, o, s)
		},
	}
}

func newRROptions(c *cli.Context, s *format.Streams) (*rrOptions, error) {
	const cmd = "rr"
	if err := checkNoArgs(c, cmd); err != nil {
		return nil, err
	}
	mode, err := messageSource(c, cmd)
	if err != nil {
		return nil, err
	}
	if c.IsSet("topic") {
		if err := checkTopic(cmd, c.String("topic"), "-t"); err != nil {
			return nil, err
		}
	}
	if c.IsSet("e") {
		e := c.String("e")
		if packet.CheckUTF8(e) != nil {
			return nil, usagef(cmd, "Malformed UTF-8 in -e argument.")
		}
		if packet.ValidTopicName(e) != nil {
			return nil, usagef(cmd, "Invalid response topic '%s', does it contain '+' or '#'?", e)
		}
	}
	sub, err := subscriptionOptions(c, cmd)
	if err != nil {
		return nil, err
	}
	if c.IsSet("W") && c.Int("W") < 1 {
		return nil, usagef(cmd, "Invalid timeout \"%d\".", c.Int("W"))
	}
	output, err := outputOptions(c, cmd, s)
	if err != nil {
		return nil, err
	}
	cn, err := parseConnection(c, cmd, s)
	if err != nil {
		return nil, err
	}
	if c.Bool("latency") {
		cn.Options.NoDelay = true
	}
	po := &pubOptions{conn: cn, qos: sub.QoS, mode: mode, repeat: 1, props: cn.Props.Publish}
	switch {
	case c.IsSet("topic"):
		po.topic = c.String("topic")
	case cn.HasURLTopic:
		po.topic = cn.URLTopic
	}
	if po.message, err = loadMessage(c, s, mode, cn.Quiet); err != nil {
		return nil, err
	}
	if (!c.IsSet("topic") && !cn.HasURLTopic) || mode == msgNone || !c.IsSet("e") {
		return nil, usagef(cmd, "All of topic, message, and response topic must be supplied.")
	}
	if cn.Options.Version == packet.V5 {
		if po.props.Has(packet.PropResponseTopic) {
			return nil, &ExitError{Code: 1, Err: errors.New("Error in PUBLISH properties: Duplicate response topic."),
				Silent: printNow(s, cn.Quiet, "Error in PUBLISH properties: Duplicate response topic.")}
		}
		_ = po.props.SetString(packet.PropResponseTopic, c.String("e"))
		if !po.props.Has(packet.PropCorrelationData) {
			id := make([]byte, 8)
			_, _ = rand.Read(id)
			_ = po.props.SetString(packet.PropCorrelationData, hex.EncodeToString(id))
		}
	}
	sub.Filter = c.String("e")
	return &rrOptions{
		pub:      po,
		response: sub,
		subProps: cn.Props.Subscribe,
		timeout:  time.Duration(c.Int("W")) * time.Second,
		noRetain: c.Bool("R"),
		latency:  c.Bool("latency"),
		output:   output,
	}, nil
}

// runRR subscribes to the response topic, sends the request and prints
// the first response.
func runRR(ctx context.Context, o *rrOptions, s *format.Streams) error {
	stopPipe := ignoreSIGPIPE()
	defer stopPipe()
	printer, err := format.NewPrinter(o.output)
	if err != nil {
		return usagef("rr", "%v", err)
	}
	cn := o.pub.conn
	out := newOutWriter(s.Out, true)
	corr := o.pub.props.CorrelationData
	type response struct {
		p  *packet.Publish
		at time.Time
	}
	got := make(chan response, 1)
	opts := cn.Options
	opts.OnMessage = func(p *packet.Publish) {
		if p.Retain && o.noRetain {
			return
		}
		if !packet.Match(o.response.Filter, p.Topic) {
			return
		}
		if corr != nil && p.Props.Has(packet.PropCorrelationData) && !bytes.Equal(p.Props.CorrelationData, corr) {
			return
		}
		cp := *p
		cp.Payload = append([]byte(nil), p.Payload...)
		select {
		case got <- response{p: &cp, at: time.Now()}:
		default:
		}
	}
	c, timeout, err := dialWithTimeout(ctx, opts, o.timeout)
	if err != nil {
		return dialFailure(ctx, s, err, cn.Quiet)
	}
	finish := func(rc packet.ReasonCode, err error) error {
		_ = cn.Disconnect(c, rc)
		return clientExit(s, err, cn.Quiet)
	}

	type result struct {
		sent time.Time
		err  error
	}
	sent := make(chan result, 1)
	go func() {
		sp := &packet.Subscribe{Props: o.subProps, Subscriptions: []packet.Subscription{o.response}}
		ack, err := c.Subscribe(ctx, sp)
		if err != nil {
			sent <- result{err: err}
			return
		}
		if len(ack.ReasonCodes) == 0 || ack.ReasonCodes[0].IsError() {
			rc := packet.UnspecifiedError
			if len(ack.ReasonCodes) > 0 {
				rc = ack.ReasonCodes[0]
			}
			sent <- result{err: &denied{rc}}
			return
		}
		p := &packet.Publish{Topic: o.pub.topic, QoS: o.pub.qos, Payload: o.pub.message, Props: o.pub.props}
		start := time.Now()
		sent <- result{sent: start, err: c.Publish(ctx, p)}
	}()

	var start time.Time
	for {
		select {
		case r := <-sent:
			sent = nil
			var d *denied
			if errors.As(r.err, &d) {
				if !cn.Quiet {
					fmt.Fprintln(s.Err, capitalize(d.rc.String()))
				}
				return finish(0, &ExitError{Code: 1, Err: d, Silent: true})
			}
			if r.err != nil {
				if ctx.Err() != nil {
					continue
				}
				return finish(0, r.err)
			}
			start = r.sent
		case resp := <-got:
			if err := printer.Print(out, resp.p, resp.at); err != nil {
				var notice interface{ Notice() string }
				if errors.As(err, &notice) && !cn.Quiet {
					fmt.Fprint(s.Err, notice.Notice())
				}
			}
			if o.latency && !start.IsZero() {
				fmt.Fprintln(out, latencyText(resp.at.Sub(start)))
			}
			return finish(0, nil)
		case <-ctx.Done():
			return finish(packet.ReasonCode(0x04), nil)
		case <-timeout:
			finish(packet.ReasonCode(0x04), nil)
			return timedOutErr(s, cn.Quiet)
		case <-c.Done():
			return clientExit(s, connLost(c.Err()), cn.Quiet)
		}
	}
}

// connLost names a dropped connection whose cause is unknown.
func connLost(err error) error {
	if err == nil {
		return client.ErrClosed
	}
	return err
}

// denied is a refused response-topic subscription.
type denied struct{ rc packet.ReasonCode }

func (d *denied) Error() string { return "subscription denied: " + d.rc.String() }

// latencyText formats d as mosquitto_rr --latency does.
func latencyText(d time.Duration) string {
	ns := d.Nanoseconds()
	switch {
	case d >= time.Second:
		return fmt.Sprintf("Latency: %d.%09d", ns/1e9, ns%1e9)
	case ns < 1000:
		return fmt.Sprintf("Latency: %dns", ns)
	case ns < 1000000:
		return fmt.Sprintf("Latency: %fµs", float64(ns)/1000)
	}
	return fmt.Sprintf("Latency: %fms", float64(ns)/1e6)
}
