package client

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/packet"
)

// reconnectTimeout bounds every wait in the reconnection tests.
const reconnectTimeout = 10 * time.Second

// gatedSleep replaces the Reconnector's back-off wait: it records each
// delay asked for and lets an attempt proceed only when the test allows it.
type gatedSleep struct {
	mu      sync.Mutex
	delays  []time.Duration
	entered chan time.Duration
	gate    chan struct{}
}

func newGatedSleep() *gatedSleep {
	return &gatedSleep{entered: make(chan time.Duration, 100), gate: make(chan struct{})}
}

func (g *gatedSleep) sleep(ctx context.Context, d time.Duration) error {
	g.mu.Lock()
	g.delays = append(g.delays, d)
	g.mu.Unlock()
	g.entered <- d
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitEntered waits until the Reconnector is in its back-off wait.
func (g *gatedSleep) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(reconnectTimeout):
		t.Fatalf("no reconnection attempt within %v", reconnectTimeout)
	}
}

// allow ends one back-off wait, so that one connection attempt follows.
func (g *gatedSleep) allow(t *testing.T) {
	t.Helper()
	select {
	case g.gate <- struct{}{}:
	case <-time.After(reconnectTimeout):
		t.Fatalf("no reconnection attempt waiting within %v", reconnectTimeout)
	}
}

func (g *gatedSleep) recorded() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Duration(nil), g.delays...)
}

// realBroker runs a broker.Server on one address, which can be stopped
// (dropping every connection) and started again.
type realBroker struct {
	t      *testing.T
	addr   string
	srv    *broker.Server
	cancel context.CancelFunc
	served chan error
}

// startRealBroker runs srv (nil: a new server) on addr ("": a free port).
func startRealBroker(t *testing.T, srv *broker.Server, addr string) *realBroker {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if srv == nil {
		srv = broker.New(broker.Options{SysInterval: -1})
	}
	// The port may stay busy for a moment while the last connections on
	// it close.
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(reconnectTimeout); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &realBroker{t: t, addr: ln.Addr().String(), srv: srv, cancel: cancel, served: make(chan error, 1)}
	go func() { b.served <- srv.Serve(ctx, ln) }()
	t.Cleanup(b.stop)
	return b
}

// stop ends Serve, closing the broker's connections; it may be called
// more than once.
func (b *realBroker) stop() {
	b.cancel()
	select {
	case err, ok := <-b.served:
		if ok && err != nil {
			b.t.Errorf("Serve() = %v, want nil", err)
		}
		if ok {
			close(b.served)
		}
	case <-time.After(reconnectTimeout):
		b.t.Errorf("Serve did not return within %v of cancel", reconnectTimeout)
	}
}

func (b *realBroker) url() string { return "mqtt://" + b.addr }

// scriptedServer runs handle for each accepted connection, numbered from
// 1. At cleanup the listener and every connection are closed and the
// handlers waited for.
func scriptedServer(t *testing.T, handle func(n int, f *fakeConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(n, &fakeConn{t: t, c: c, br: bufio.NewReader(c), v: packet.V311})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "mqtt://" + ln.Addr().String()
}

// drainUntilClosed reads and drops packets until the client or the test
// closes the connection.
func drainUntilClosed(f *fakeConn) {
	for {
		if _, err := packet.Read(f.br, f.v, 0); err != nil {
			return
		}
	}
}

func TestReconnectDelay(t *testing.T) {
	ro := ReconnectOptions{MinDelay: 10 * time.Millisecond, MaxDelay: 70 * time.Millisecond}
	ms := time.Millisecond
	want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 70 * ms, 70 * ms, 70 * ms}
	for n, w := range want {
		if got := ro.delay(n); got != w {
			t.Errorf("delay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := ro.delay(1000); got != 70*ms {
		t.Errorf("delay(1000) = %v, want %v (capped, no overflow)", got, 70*ms)
	}

	ro.Jitter = 0.5
	distinct := map[time.Duration]bool{}
	for range 200 {
		d := ro.delay(3)
		if d < 35*ms || d > 70*ms {
			t.Fatalf("delay(3) with jitter 0.5 = %v, want within [35ms, 70ms]", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("delay(3) with jitter 0.5 took %d distinct values in 200 draws, want random values", len(distinct))
	}
}

// TestReconnectBackoff drops the connection and fails six attempts: the
// waits double from MinDelay to MaxDelay and stay there, and start again
// from MinDelay after the next connection drops.
func TestReconnectBackoff(t *testing.T) {
	const failures = 6
	url := scriptedServer(t, func(n int, f *fakeConn) {
		switch {
		case n == 1 || n == failures+2:
			f.accept(nil) // then close: the link drops
		case n <= failures+1:
			// Close before CONNACK: the attempt fails.
		default:
			f.accept(nil)
			drainUntilClosed(f)
		}
	})
	g := newGatedSleep()
	reconnected := make(chan *packet.Connack, 10)
	var lost atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	r, err := Reconnect(ctx, Options{URL: url, ClientID: "backoff"}, ReconnectOptions{
		MinDelay:         10 * time.Millisecond,
		MaxDelay:         70 * time.Millisecond,
		OnReconnect:      func(ca *packet.Connack) { reconnected <- ca },
		OnConnectionLost: func(error) { lost.Add(1) },
		sleep:            g.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range failures + 1 {
		g.allow(t)
	}
	receive(t, reconnected, "first reconnection")
	g.allow(t) // the second drop: one attempt, which succeeds
	receive(t, reconnected, "second reconnection")

	ms := time.Millisecond
	want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 70 * ms, 70 * ms, 70 * ms, 70 * ms, 10 * ms}
	got := g.recorded()
	if len(got) != len(want) {
		t.Fatalf("back-off waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-off waits %v, want %v", got, want)
		}
	}
	if n := lost.Load(); n != 2 {
		t.Errorf("OnConnectionLost called %d times, want 2", n)
	}
}

// receive returns the next value from ch, failing the test if none
// comes within reconnectTimeout.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(reconnectTimeout):
		t.Fatalf("no %s within %v", what, reconnectTimeout)
		var zero T
		return zero
	}
}

// TestReconnectSubscriptions restarts a real broker under a Reconnector
// and checks that the subscriptions are sent again when the new session
// is not the old one (Session Present 0), and not when the broker kept it
// (Session Present 1); either way messages flow after the reconnection.
func TestReconnectSubscriptions(t *testing.T) {
	tests := []struct {
		name        string
		version     packet.Version
		cleanStart  bool
		expiry      uint32 // v5 Session Expiry Interval
		sameBroker  bool
		wantPresent bool
		alwaysRenew bool
	}{
		{"3.1.1 clean session", packet.V311, true, 0, true, false, false},
		{"3.1.1 persistent session kept", packet.V311, false, 0, true, true, false},
		{"3.1.1 persistent session kept, always renew", packet.V311, false, 0, true, true, true},
		{"3.1.1 persistent session lost", packet.V311, false, 0, false, false, false},
		{"5.0 session expiry 0", packet.V5, false, 0, true, false, false},
		{"5.0 session expiry 60 kept", packet.V5, false, 60, true, true, false},
		{"5.0 session expiry 60 kept, always renew", packet.V5, false, 60, true, true, true},
		{"5.0 session expiry 60 lost", packet.V5, false, 60, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startRealBroker(t, nil, "")
			g := newGatedSleep()
			messages := make(chan string, 10)
			subscribed := make(chan []*packet.Suback, 10)
			reconnected := make(chan *packet.Connack, 10)
			var sent atomic.Int32
			opts := Options{
				URL: b.url(), Version: tt.version, ClientID: "resub", CleanStart: tt.cleanStart,
				OnMessage: func(p *packet.Publish) { messages <- p.Topic + " " + string(p.Payload) },
				Trace: func(out bool, p packet.Packet) {
					if _, ok := p.(*packet.Subscribe); ok && out {
						sent.Add(1)
					}
				},
			}
			if tt.expiry != 0 {
				opts.ConnectProps.SetUint(packet.PropSessionExpiry, uint64(tt.expiry))
			}
			subs := []*packet.Subscribe{
				{Subscriptions: []packet.Subscription{{Filter: "r/a", QoS: 1}}},
				{Subscriptions: []packet.Subscription{{Filter: "r/b/#", QoS: 1}}},
			}
			ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
			defer cancel()
			r, err := Reconnect(ctx, opts, ReconnectOptions{
				Subscriptions: subs,
				AlwaysRenew:   tt.alwaysRenew,
				OnSubscribed: func(_ context.Context, _ *Reconnector, acks []*packet.Suback, err error) error {
					if err != nil {
						t.Errorf("OnSubscribed error %v", err)
					}
					subscribed <- acks
					return nil
				},
				OnReconnect: func(ca *packet.Connack) { reconnected <- ca },
				sleep:       g.sleep,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if acks := receive(t, subscribed, "first SUBACKs"); len(acks) != 2 {
				t.Fatalf("first OnSubscribed got %d SUBACKs, want 2", len(acks))
			}
			publishOne(t, b.url(), "r/a", "before")
			if got := receive(t, messages, "message before the drop"); got != "r/a before" {
				t.Fatalf("received %q, want %q", got, "r/a before")
			}

			b.stop()
			g.waitEntered(t)
			srv := b.srv
			if !tt.sameBroker {
				srv = nil
			}
			b = startRealBroker(t, srv, b.addr)
			g.allow(t)
			ca := receive(t, reconnected, "reconnection")
			if ca.SessionPresent != tt.wantPresent {
				t.Errorf("CONNACK Session Present = %v, want %v", ca.SessionPresent, tt.wantPresent)
			}
			renewed := !tt.wantPresent || tt.alwaysRenew
			if renewed {
				if acks := receive(t, subscribed, "renewed SUBACKs"); len(acks) != 2 {
					t.Errorf("renewal OnSubscribed got %d SUBACKs, want 2", len(acks))
				}
			}
			publishOne(t, b.url(), "r/b/c", "after")
			for {
				// A kept session may deliver "before" again: QoS 1 is at
				// least once, and its PUBACK may not have been read.
				got := receive(t, messages, "message after the reconnection")
				if got == "r/b/c after" {
					break
				}
				if got != "r/a before" || !tt.wantPresent {
					t.Fatalf("received %q, want %q", got, "r/b/c after")
				}
			}
			r.Stop() // every callback has returned
			want := int32(2)
			if renewed {
				want = 4
			}
			if n := sent.Load(); n != want {
				t.Errorf("sent %d SUBSCRIBEs, want %d", n, want)
			}
			if n := len(subscribed); n != 0 {
				t.Errorf("OnSubscribed called %d more times", n)
			}
			for _, sp := range subs {
				if sp.PacketID != 0 {
					t.Errorf("caller's SUBSCRIBE got packet id %d, want it left alone", sp.PacketID)
				}
			}
		})
	}
}

// publishOne sends one QoS 1 message through its own connection.
func publishOne(t *testing.T, url, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	c, err := Dial(ctx, Options{URL: url, ClientID: "publisher"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx, nil)
	if err := c.Publish(ctx, &packet.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatalf("Publish(%s): %v", topic, err)
	}
}

// TestReconnectSubscriptionsIncomplete checks that subscriptions are sent
// again after a drop that came before their SUBACK, even when the server
// says it kept the session.
func TestReconnectSubscriptionsIncomplete(t *testing.T) {
	var subscribes atomic.Int32
	url := scriptedServer(t, func(n int, f *fakeConn) {
		f.accept(&packet.Connack{SessionPresent: n > 1})
		for {
			p, err := packet.Read(f.br, f.v, 0)
			if err != nil {
				return
			}
			if s, ok := p.(*packet.Subscribe); ok {
				subscribes.Add(1)
				if n == 1 {
					return // drop before SUBACK
				}
				f.write(&packet.Suback{PacketID: s.PacketID, ReasonCodes: []packet.ReasonCode{1}})
			}
		}
	})
	g := newGatedSleep()
	subscribed := make(chan []*packet.Suback, 10)
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	r, err := Reconnect(ctx, Options{URL: url, ClientID: "incomplete"}, ReconnectOptions{
		Subscriptions: []*packet.Subscribe{{Subscriptions: []packet.Subscription{{Filter: "i/t", QoS: 1}}}},
		OnSubscribed: func(_ context.Context, _ *Reconnector, acks []*packet.Suback, err error) error {
			if err != nil {
				t.Errorf("OnSubscribed error %v, want none (a drop is not reported)", err)
			}
			subscribed <- acks
			return nil
		},
		sleep: g.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g.allow(t)
	acks := receive(t, subscribed, "SUBACK after reconnection")
	if len(acks) != 1 || len(acks[0].ReasonCodes) != 1 || acks[0].ReasonCodes[0] != 1 {
		t.Errorf("SUBACKs %+v, want one granting QoS 1", acks)
	}
	r.Stop()
	if n := subscribes.Load(); n != 2 {
		t.Errorf("server read %d SUBSCRIBEs, want 2", n)
	}
}

// TestReconnectRefused checks that a refused reconnection ends the
// Reconnector with the *ConnectError, which operations then return.
func TestReconnectRefused(t *testing.T) {
	url := scriptedServer(t, func(n int, f *fakeConn) {
		if n == 1 {
			f.accept(nil) // then close
			return
		}
		f.accept(&packet.Connack{ReasonCode: packet.NotAuthorized})
	})
	g := newGatedSleep()
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	r, err := Reconnect(ctx, Options{URL: url, ClientID: "refused"}, ReconnectOptions{sleep: g.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g.allow(t)
	receive(t, r.Done(), "end of reconnection")
	var ce *ConnectError
	if !errors.As(r.Err(), &ce) || ce.Connack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("Err() = %v, want *ConnectError not authorized", r.Err())
	}
	perr := r.PublishAsync(ctx, &packet.Publish{Topic: "x", QoS: 1}, nil)
	if !errors.As(perr, &ce) {
		t.Errorf("PublishAsync after refusal = %v, want the *ConnectError", perr)
	}
	if n := len(g.recorded()); n != 1 {
		t.Errorf("%d attempts, want 1 (a refusal is final)", n)
	}
	if c := r.Stop(); !gone(c) {
		t.Errorf("Stop returned a live connection, want the one that dropped")
	}
}

// TestReconnectPublishWaits checks that a publish made while the link is
// down waits for the next connection and is delivered there.
func TestReconnectPublishWaits(t *testing.T) {
	b := startRealBroker(t, nil, "")
	g := newGatedSleep()
	ctx, cancel := context.WithTimeout(context.Background(), reconnectTimeout)
	defer cancel()
	r, err := Reconnect(ctx, Options{URL: b.url(), ClientID: "waiter"}, ReconnectOptions{sleep: g.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b.stop()
	g.waitEntered(t) // the Reconnector saw the drop

	published := make(chan error, 1)
	go func() {
		published <- r.Publish(ctx, &packet.Publish{Topic: "w/t", QoS: 1, Payload: []byte("late")})
	}()
	b = startRealBroker(t, b.srv, b.addr)
	got := make(chan string, 1)
	sub, err := Dial(ctx, Options{URL: b.url(), ClientID: "watcher",
		OnMessage: func(p *packet.Publish) { got <- string(p.Payload) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "w/t", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-published:
		t.Fatalf("Publish returned %v before the reconnection", err)
	default:
	}
	g.allow(t)
	if err := receive(t, published, "Publish to return"); err != nil {
		t.Fatalf("Publish across a reconnection = %v, want nil", err)
	}
	if p := receive(t, got, "message"); p != "late" {
		t.Errorf("watcher got %q, want %q", p, "late")
	}
}

// TestReconnectStops checks that ending ctx or calling Stop ends the
// Reconnector promptly wherever it is, leaving no goroutine behind.
func TestReconnectStops(t *testing.T) {
	tests := []struct {
		name    string
		stop    bool   // Stop rather than cancel ctx
		where   string // "back-off", "dial" or "connected"
		wantErr error
	}{
		{"cancel during back-off", false, "back-off", context.Canceled},
		{"cancel during dial", false, "dial", context.Canceled},
		{"cancel while connected", false, "connected", context.Canceled},
		{"Stop during back-off", true, "back-off", nil},
		{"Stop during dial", true, "dial", nil},
		{"Stop while connected", true, "connected", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, before) })
			dialled := make(chan struct{}, 10)
			url := scriptedServer(t, func(n int, f *fakeConn) {
				if n == 1 && tt.where != "connected" {
					f.accept(nil) // then close
					return
				}
				if n == 1 {
					f.accept(nil)
					drainUntilClosed(f)
					return
				}
				dialled <- struct{}{}
				drainUntilClosed(f) // no CONNACK: the dial hangs
			})
			ro := ReconnectOptions{MinDelay: time.Hour} // the real wait
			if tt.where == "dial" {
				ro = ReconnectOptions{MinDelay: time.Millisecond}
			}
			lost := make(chan error, 1)
			ro.OnConnectionLost = func(err error) { lost <- err }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, err := Reconnect(ctx, Options{URL: url, ClientID: "stopper", ConnectTimeout: time.Hour}, ro)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.where {
			case "back-off":
				receive(t, lost, "drop")
			case "dial":
				receive(t, dialled, "second dial")
			}
			start := time.Now()
			var c *Client
			if tt.stop {
				c = r.Stop()
			} else {
				cancel()
			}
			receive(t, r.Done(), "end after "+tt.name)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to stop, want promptly", d)
			}
			if !errors.Is(r.Err(), tt.wantErr) || (tt.wantErr == nil && r.Err() != nil) {
				t.Errorf("Err() = %v, want %v", r.Err(), tt.wantErr)
			}
			if err := r.Err(); err != nil && !strings.HasPrefix(err.Error(), "client: ") {
				t.Errorf("Err() = %q, want the \"client: \" prefix", err)
			}
			if tt.where != "connected" {
				// The connection is gone and none will follow: PublishAsync
				// says why, as every client error does.
				perr := r.PublishAsync(context.Background(), &packet.Publish{Topic: "s/t", QoS: 1}, nil)
				if perr == nil || !strings.HasPrefix(perr.Error(), "client: ") {
					t.Errorf("PublishAsync after the end = %v, want an error with the \"client: \" prefix", perr)
				}
			}
			if tt.where == "connected" {
				// The connection outlives the reconnection, for a clean
				// DISCONNECT.
				pctx, pcancel := context.WithTimeout(context.Background(), reconnectTimeout)
				defer pcancel()
				if err := r.Publish(pctx, &packet.Publish{Topic: "s/t", Payload: []byte("x")}); err != nil {
					t.Errorf("Publish after the end of reconnection = %v, want nil", err)
				}
			}
			if c == nil {
				c = r.Stop()
			}
			if got, want := gone(c), tt.where != "connected"; got != want {
				t.Errorf("Stop returned a connection that has ended = %v, want %v", got, want)
			}
			c.Close()
		})
	}
}
