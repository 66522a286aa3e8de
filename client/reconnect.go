package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// Default back-off bounds of a Reconnector.
const (
	DefaultMinDelay = 100 * time.Millisecond
	DefaultMaxDelay = 5 * time.Second
)

// ReconnectOptions configures Reconnect.
type ReconnectOptions struct {
	// MinDelay is the wait before the first attempt to connect again;
	// each failed attempt doubles it, up to MaxDelay. Defaults
	// DefaultMinDelay and DefaultMaxDelay.
	MinDelay, MaxDelay time.Duration
	// Jitter, from 0 to 1, shortens each wait by up to that fraction, at
	// random, so that clients dropped together do not return together.
	Jitter float64
	// Subscriptions are sent, in order, on the first connection and again
	// on each new connection whose CONNACK says the server did not keep
	// the session (Session Present 0). With Session Present 1 the server
	// kept the session and its subscriptions [MQTT-3.2.2-2] (3.1.1),
	// [MQTT-3.2.2-3] (5.0), so they are not sent again, unless they were
	// never all acknowledged.
	Subscriptions []*packet.Subscribe
	// AlwaysRenew sends Subscriptions on every new connection, also when
	// the server kept the session, as mosquitto_sub does. The server then
	// sends matching retained messages again [MQTT-3.3.1-9], and a server
	// that claimed a session it no longer has cannot leave the client
	// unsubscribed.
	AlwaysRenew bool
	// OnSubscribed, when set, is called each time Subscriptions have been
	// sent (even when there are none): with their SUBACKs in order, or with
	// the error that stopped them. It is not called when the connection or
	// ctx ended first; the subscriptions are then sent on the next
	// connection whatever the session. If it returns an error they count
	// as not made either, so a caller that does more through r (an
	// UNSUBSCRIBE) gets to do it again. ctx ends when r stops.
	OnSubscribed func(ctx context.Context, r *Reconnector, acks []*packet.Suback, err error) error
	// OnConnectionLost, when set, is called with why a connection ended
	// (Client.Err), before connecting again.
	OnConnectionLost func(err error)
	// OnReconnect, when set, is called with the CONNACK of each new
	// connection after the first, before Subscriptions are renewed.
	OnReconnect func(ca *packet.Connack)

	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// delay returns the wait before attempt n (0 for the first after a
// connection ended): MinDelay doubled n times, at most MaxDelay, less the
// jitter.
func (ro *ReconnectOptions) delay(n int) time.Duration {
	d := ro.MinDelay
	for i := 0; i < n && d < ro.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, ro.MaxDelay)
	if ro.Jitter > 0 {
		d -= time.Duration(rand.Float64() * min(ro.Jitter, 1) * float64(d))
	}
	return d
}

// Reconnector holds a connection to one server and replaces it when it
// drops: it dials again with exponential back-off and renews the
// subscriptions it was given when the server did not keep the session. A
// refused connection (*ConnectError) is final. Callers use its methods,
// which always act on the current connection, and never hold a *Client
// that may have been replaced; Stop hands the last connection over.
//
// One goroutine, started by Reconnect, watches the connection and runs the
// callbacks, which must not call Stop, Close or Disconnect, nor wait for a
// reconnection. It ends when ctx ends, a reconnection is refused, or Stop,
// Close or Disconnect is called; Done is then closed. The connection in
// use when ctx ends stays open until Stop, Close or Disconnect.
type Reconnector struct {
	opts   Options
	ro     ReconnectOptions
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has ended

	mu       sync.Mutex
	cur      *Client
	next     chan struct{} // closed when cur is replaced or the goroutine ends
	stopping bool
	err      error

	// Owned by the goroutine.
	subscribed bool // Subscriptions acknowledged on the current session
}

// Reconnect dials the server as Dial does and returns a Reconnector that
// keeps the connection up until ctx ends (see Reconnector). A failure of
// this first connection is returned as is, without retrying.
func Reconnect(ctx context.Context, opts Options, ro ReconnectOptions) (*Reconnector, error) {
	if ro.MinDelay <= 0 {
		ro.MinDelay = DefaultMinDelay
	}
	if ro.MaxDelay <= 0 {
		ro.MaxDelay = DefaultMaxDelay
	}
	ro.MaxDelay = max(ro.MaxDelay, ro.MinDelay)
	if ro.sleep == nil {
		ro.sleep = sleepCtx
	}
	c, err := Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Reconnector{
		opts:   opts,
		ro:     ro,
		cancel: cancel,
		done:   make(chan struct{}),
		cur:    c,
		next:   make(chan struct{}),
	}
	go r.run(ctx, c)
	return r, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run subscribes on c, waits for it to end and connects again, until ctx
// ends or a reconnection fails for good.
func (r *Reconnector) run(ctx context.Context, c *Client) {
	defer close(r.done)
	defer r.cancel()
	renew := true
	for {
		if renew {
			r.subscribe(ctx, c)
		}
		select {
		case <-c.Done():
		case <-ctx.Done():
			r.end(ctx.Err())
			return
		}
		if ctx.Err() != nil {
			r.end(ctx.Err())
			return
		}
		if r.ro.OnConnectionLost != nil {
			r.ro.OnConnectionLost(c.Err())
		}
		nc, err := r.redial(ctx)
		if err != nil {
			r.end(err)
			return
		}
		renew = r.ro.AlwaysRenew || !nc.Connack().SessionPresent || !r.subscribed
		r.replace(nc)
		c = nc
		if r.ro.OnReconnect != nil {
			r.ro.OnReconnect(nc.Connack())
		}
	}
}

// subscribe sends the Subscriptions on c and reports them to OnSubscribed.
func (r *Reconnector) subscribe(ctx context.Context, c *Client) {
	r.subscribed = false
	acks := make([]*packet.Suback, 0, len(r.ro.Subscriptions))
	var err error
	for _, sp := range r.ro.Subscriptions {
		p := *sp // Subscribe sets the packet id: leave the caller's alone
		p.Subscriptions = append([]packet.Subscription(nil), sp.Subscriptions...)
		ack, serr := c.Subscribe(ctx, &p)
		if serr != nil {
			err = serr
			break
		}
		acks = append(acks, ack)
	}
	if err != nil && (ctx.Err() != nil || gone(c)) {
		return
	}
	if r.ro.OnSubscribed != nil {
		if cerr := r.ro.OnSubscribed(ctx, r, acks, err); cerr != nil {
			return
		}
	}
	r.subscribed = err == nil
}

// gone reports whether c's connection is gone.
func gone(c *Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// redial connects again, waiting before each attempt, until it succeeds,
// the server refuses (*ConnectError) or ctx ends.
func (r *Reconnector) redial(ctx context.Context) (*Client, error) {
	for n := 0; ; n++ {
		if err := r.ro.sleep(ctx, r.ro.delay(n)); err != nil {
			return nil, err
		}
		c, err := Dial(ctx, r.opts)
		if err == nil {
			if ctx.Err() != nil {
				c.Close()
				return nil, ctx.Err()
			}
			return c, nil
		}
		var ce *ConnectError
		if errors.As(err, &ce) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func (r *Reconnector) replace(c *Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = c
	close(r.next)
	r.next = make(chan struct{})
}

// end records why the goroutine ends (nothing after Stop) and wakes the
// operations waiting for a new connection.
func (r *Reconnector) end(err error) {
	var ce *ConnectError
	if !errors.As(err, &ce) {
		err = fmt.Errorf("client: reconnect: %w", err) // ctx's error
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopping {
		r.err = err
	}
	close(r.next)
}

// current returns the connection in use and a channel closed when it is
// replaced or no replacement will come.
func (r *Reconnector) current() (*Client, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, r.next
}

// Done returns a channel closed when the Reconnector has stopped
// reconnecting: ctx ended, a reconnection was refused, or Stop, Close or
// Disconnect was called.
func (r *Reconnector) Done() <-chan struct{} { return r.done }

// Err returns why the Reconnector stopped: nil while it runs and after
// Stop, an error wrapping ctx's error, or the refusal (*ConnectError).
func (r *Reconnector) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Connected reports whether the current connection is up. After an
// operation fails, false means it failed because the connection ended.
func (r *Reconnector) Connected() bool {
	c, _ := r.current()
	return !gone(c)
}

// Connack returns the CONNACK of the current connection.
func (r *Reconnector) Connack() *packet.Connack {
	c, _ := r.current()
	return c.Connack()
}

// PublishAsync is Client.PublishAsync on the current connection. If that
// connection has ended before p could be queued, PublishAsync waits for
// the next one and queues p there; if none will come it returns why (the
// refusal, ctx's error) . A message already queued when its connection
// ended is not sent again: done reports the failure.
func (r *Reconnector) PublishAsync(ctx context.Context, p *packet.Publish, done func(err error)) error {
	for {
		c, next := r.current()
		err := c.PublishAsync(ctx, p, done)
		if err == nil || !gone(c) || ctx.Err() != nil {
			return err
		}
		if err := r.await(ctx, c, next, err); err != nil {
			return err
		}
	}
}

// Publish is PublishAsync that waits for the outcome: at QoS 0 until p is
// queued, at QoS 1 and 2 until its PUBACK or PUBCOMP.
func (r *Reconnector) Publish(ctx context.Context, p *packet.Publish) error {
	res := make(chan error, 1)
	if err := r.PublishAsync(ctx, p, func(err error) { res <- err }); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("client: wait for acknowledgement: %w", ctx.Err())
	}
}

// await waits until c, which failed an operation with err, is replaced,
// and returns nil then; otherwise why no replacement will come.
func (r *Reconnector) await(ctx context.Context, c *Client, next <-chan struct{}, err error) error {
	select {
	case <-next:
	case <-ctx.Done():
		return fmt.Errorf("client: wait for reconnection: %w", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != c {
		return nil
	}
	if r.err != nil {
		return r.err
	}
	return err
}

// Unsubscribe is Client.Unsubscribe on the current connection.
func (r *Reconnector) Unsubscribe(ctx context.Context, u *packet.Unsubscribe) (*packet.Unsuback, error) {
	c, _ := r.current()
	return c.Unsubscribe(ctx, u)
}

// Stop ends reconnection, waits for the Reconnector's goroutine and
// returns the last connection, which the caller then owns (it may have
// ended already). It must not be called from a callback.
func (r *Reconnector) Stop() *Client {
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	r.cancel()
	<-r.done
	c, _ := r.current()
	return c
}

// Close stops the Reconnector and closes its connection without
// DISCONNECT.
func (r *Reconnector) Close() error {
	return r.Stop().Close()
}

// Disconnect stops the Reconnector and ends its connection with
// Client.Disconnect.
func (r *Reconnector) Disconnect(ctx context.Context, d *packet.Disconnect) error {
	return r.Stop().Disconnect(ctx, d)
}
