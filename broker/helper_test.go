package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mqtool/mqtool/packet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait of a test; nothing sleeps for a fixed time.
const testTimeout = 5 * time.Second

// startServer runs a Server with opts on a free loopback port until the
// test ends and returns its address.
func startServer(t testing.TB, opts Options) (string, *Server) {
	t.Helper()
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	s := New(opts)
	addrs, _ := serveUntil(t, s, 1)
	return addrs[0], s
}

// serveUntil runs s on n new loopback listeners, in one Serve call, until
// the returned stop is called; stop waits for Serve to return.
func serveUntil(t testing.TB, s *Server, n int) (addrs []string, stop func()) {
	t.Helper()
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
		serversMu.Lock()
		servers[ln.Addr().String()] = s
		serversMu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lns...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve() = %v, want nil", err)
				}
			case <-time.After(testTimeout):
				t.Errorf("Serve did not return within %v of cancel", testTimeout)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		serversMu.Lock()
		for _, a := range addrs {
			delete(servers, a)
		}
		serversMu.Unlock()
	})
	return addrs, stop
}

// servers maps a test server's address to the Server, for tests that
// look at its state.
var (
	serversMu sync.Mutex
	servers   = map[string]*Server{}
)

// sessionAt returns the session of id on the server at addr, or nil.
func sessionAt(t testing.TB, addr, id string) *session {
	serversMu.Lock()
	s := servers[addr]
	serversMu.Unlock()
	if s == nil {
		t.Fatalf("no server registered for %s", addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// tc is a raw MQTT test client that speaks packets with the packet codec.
type tc struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  packet.Version
}

func dial(t testing.TB, addr string, v packet.Version) *tc {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &tc{t: t, nc: nc, br: bufio.NewReader(nc), v: v}
}

// in returns c reporting failures to t, for clients shared with subtests.
func (c *tc) in(t testing.TB) *tc {
	d := *c
	d.t = t
	return &d
}

func (c *tc) send(p packet.Packet) {
	c.t.Helper()
	if err := packet.Write(c.nc, p, c.v); err != nil {
		c.t.Fatalf("send %s: %v", p.Type(), err)
	}
}

func (c *tc) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send % x: %v", b, err)
	}
}

func (c *tc) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.Read(c.br, c.v, 0)
}

// recv returns the next packet, failing the test when none arrives.
func (c *tc) recv() packet.Packet {
	c.t.Helper()
	p, err := c.read(testTimeout)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return p
}

func recvAs[T packet.Packet](c *tc) T {
	c.t.Helper()
	p := c.recv()
	v, ok := p.(T)
	if !ok {
		var zero T
		c.t.Fatalf("recv = %T %+v, want %T", p, p, zero)
	}
	return v
}

// closed waits for the server to close the connection and returns the
// packets it sent before.
func (c *tc) closed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	for {
		p, err := c.read(testTimeout)
		if err == nil {
			got = append(got, p)
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
			strings.Contains(err.Error(), "connection reset") {
			return got
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("connection still open after %v (got %d packets)", testTimeout, len(got))
		}
		return got
	}
}

// sync sends PINGREQ and returns the packets that arrive before PINGRESP:
// everything the server queued for this client before it read the PINGREQ.
func (c *tc) sync() []packet.Packet {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	var got []packet.Packet
	for {
		p := c.recv()
		if _, ok := p.(*packet.Pingresp); ok {
			return got
		}
		got = append(got, p)
	}
}

// connect sends cp (filled in for c's version) and returns the CONNACK.
func (c *tc) connect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	cp.Version = c.v
	c.send(cp)
	ack := recvAs[*packet.Connack](c)
	return ack
}

// connected dials and connects with client id id and clean start, failing the
// test unless the server accepts.
func connected(t testing.TB, addr string, v packet.Version, id string) *tc {
	t.Helper()
	c := dial(t, addr, v)
	if ack := c.connect(&packet.Connect{ClientID: id, CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK reason = %v, want success", ack.ReasonCode)
	}
	return c
}

func (c *tc) subscribe(id uint16, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	return recvAs[*packet.Suback](c)
}

// publish sends a PUBLISH and completes its QoS flow.
func (c *tc) publish(p *packet.Publish) {
	c.t.Helper()
	c.send(p)
	switch p.QoS {
	case packet.AtLeastOnce:
		recvAs[*packet.Puback](c)
	case packet.ExactlyOnce:
		recvAs[*packet.Pubrec](c)
		c.send(&packet.Pubrel{PacketID: p.PacketID})
		recvAs[*packet.Pubcomp](c)
	}
}

func sub(filter string, qos packet.QoS) packet.Subscription {
	return packet.Subscription{Filter: filter, QoS: qos}
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logs collects log lines of a Server.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) log(_ LogLevel, msg string) {
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
}

// snapshot returns the lines logged so far.
func (l *logs) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *logs) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// closedWithin reports whether the server closes the connection within d,
// reading and discarding anything it sends before.
func (c *tc) closedWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		_, err := c.read(time.Until(deadline))
		if err == nil {
			continue
		}
		return !errors.Is(err, os.ErrDeadlineExceeded)
	}
}

// closedNow reports whether the server has closed the connection, reading
// and discarding anything it sent before.
func (c *tc) closedNow() bool {
	for {
		_, err := c.read(10 * time.Millisecond)
		if err == nil {
			continue
		}
		return !errors.Is(err, os.ErrDeadlineExceeded)
	}
}
