package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// roundTrip publishes n QoS 1 messages from p to s on topic and fails the
// test unless all arrive within the test timeout.
func roundTrip(t *testing.T, p, s *tc, topic string, n int) {
	t.Helper()
	for i := range n {
		p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte("ok")})
		pub := recvAs[*packet.Publish](s)
		s.send(&packet.Puback{PacketID: pub.PacketID})
	}
}

// TestPublisherIgnoresAcks: a client that publishes at QoS 1 as fast as it
// can and never reads its PUBACKs fills its socket; other clients keep
// their service.
func TestPublisherIgnoresAcks(t *testing.T) {
	addr, _ := startServer(t, Options{})
	f := connected(t, addr, packet.V311, "deaf-pub")
	if tcp, ok := f.nc.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4096)
	}
	s := connected(t, addr, packet.V311, "deaf-ok-sub")
	s.subscribe(1, sub("ok", 1))
	p := connected(t, addr, packet.V311, "deaf-ok-pub")

	var wrote atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriterSize(f.nc, 64<<10)
		for i := 0; ; i++ {
			f.nc.SetWriteDeadline(time.Now().Add(testTimeout))
			if packet.Write(bw, &packet.Publish{Topic: "deaf", QoS: 1, PacketID: uint16(i%65535 + 1), Payload: []byte("x")}, f.v) != nil {
				return
			}
			if i%256 == 255 && bw.Flush() != nil {
				return
			}
			wrote.Add(1)
		}
	}()
	// Let the flood get far enough that the flooder's receive side is
	// full, or the broker gives up on the flooder.
	waitFor(t, "the flood", func() bool {
		select {
		case <-done:
			return true
		default:
			return wrote.Load() > 100000
		}
	})
	start := time.Now()
	roundTrip(t, p, s, "ok", 50)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("50 round trips took %v beside a client that does not read", d)
	}
	f.nc.Close()
	<-done
}

// TestRapidConnects connects and disconnects 1000 times, half of them
// without DISCONNECT; every session and connection is gone afterwards
// (goleak in TestMain checks the goroutines).
func TestRapidConnects(t *testing.T) {
	addr, srv := startServer(t, Options{})
	const workers, each = 4, 250
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := packet.V311
				if i%2 == 1 {
					v = packet.V5
				}
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				nc.SetDeadline(time.Now().Add(testTimeout))
				err = packet.Write(nc, &packet.Connect{Version: v, ClientID: "rapid-" + string(rune('a'+w)), CleanStart: true}, v)
				if err == nil {
					_, err = packet.Read(bufio.NewReader(nc), v, 0)
				}
				if err == nil && i%4 < 2 {
					err = packet.Write(nc, &packet.Disconnect{}, v)
				}
				nc.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("connect: %v", err)
	}
	waitFor(t, "every connection to end", func() bool {
		return srv.stats.connected.Load() == 0 && srv.sessionCount() == 0
	})
}

// TestFloodStuckSubscriber floods a subscriber that never reads at each
// QoS: the publisher finishes in time, the subscriber's queues stay within
// their limits and the overflow is counted.
func TestFloodStuckSubscriber(t *testing.T) {
	const limit = 100
	addr, srv := startServer(t, Options{MaxQueuedMessages: limit})
	payload := make([]byte, 16<<10)
	for _, qos := range []packet.QoS{0, 1, 2} {
		t.Run(qos.String(), func(t *testing.T) {
			id := "stuck-" + qos.String()
			stuck := connected(t, addr, packet.V5, id)
			if tcp, ok := stuck.nc.(*net.TCPConn); ok {
				tcp.SetReadBuffer(4096)
			}
			stuck.subscribe(1, sub("flood/"+qos.String(), qos))
			p := connected(t, addr, packet.V5, id+"-pub")
			drops := srv.stats.pubDrops.Load()
			start := time.Now()
			for i := range 1000 {
				p.publish(&packet.Publish{Topic: "flood/" + qos.String(), QoS: qos, PacketID: uint16(i + 1), Payload: payload})
			}
			p.sync() // every PUBLISH has been routed
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("publishing took %v with a stuck subscriber", d)
			}
			if srv.stats.pubDrops.Load() == drops {
				t.Errorf("no drops counted for a subscriber that never reads")
			}
			srv.mu.Lock()
			ss := srv.sessions[id]
			srv.mu.Unlock()
			ss.mu.Lock()
			queued, inflight, c := len(ss.queue), len(ss.inflight), ss.conn
			ss.mu.Unlock()
			c.wmu.Lock()
			wq0 := c.wq0
			c.wmu.Unlock()
			if queued > limit || inflight > 20 || wq0 > limit {
				t.Errorf("queued %d, inflight %d, QoS 0 waiting %d; want at most %d, 20, %d", queued, inflight, wq0, limit, limit)
			}
		})
	}
}

// TestInflightAllPacketIDs fills the whole packet identifier space towards
// a subscriber that never acknowledges: 65,535 messages are in flight with
// distinct ids, the next ones queue, and nothing is sent twice.
func TestInflightAllPacketIDs(t *testing.T) {
	addr, srv := startServer(t, Options{MaxInflightMessages: -1, MaxQueuedMessages: 100})
	s := connected(t, addr, packet.V5, "ids-sub")
	s.subscribe(1, sub("ids", 1))
	p := connected(t, addr, packet.V5, "ids-pub")
	const n = 65535 + 50
	acked := make(chan error, 1)
	go func() {
		for range n {
			p.nc.SetReadDeadline(time.Now().Add(4 * testTimeout))
			if _, err := packet.Read(p.br, p.v, 0); err != nil {
				acked <- err
				return
			}
		}
		acked <- nil
	}()
	bw := bufio.NewWriterSize(p.nc, 64<<10)
	// One PUBLISH packet re-written with a new id each time: the
	// publisher's own window is not what this test is about, so it uses
	// QoS 1 ids freely (the broker acknowledges each at once).
	raw, err := packet.Append(nil, &packet.Publish{Topic: "ids", QoS: 1, PacketID: 1, Payload: []byte("x")}, p.v)
	if err != nil {
		t.Fatal(err)
	}
	idAt := len(raw) - 1 - 1 - 2 // payload 1 byte, properties length 1 byte, then the id
	for i := range n {
		binary.BigEndian.PutUint16(raw[idAt:], uint16(i%65535+1))
		if _, err := bw.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-acked; err != nil {
		t.Fatalf("reading PUBACKs: %v", err)
	}
	seen := make(map[uint16]bool, 65535)
	for len(seen) < 65535 {
		s.nc.SetReadDeadline(time.Now().Add(4 * testTimeout))
		pk, err := packet.Read(s.br, s.v, 0)
		if err != nil {
			t.Fatalf("after %d deliveries: %v", len(seen), err)
		}
		pub := pk.(*packet.Publish)
		if seen[pub.PacketID] {
			t.Fatalf("packet id %d in flight twice", pub.PacketID)
		}
		seen[pub.PacketID] = true
	}
	if got := s.sync(); len(got) != 0 {
		t.Errorf("%d more PUBLISH with every packet id in flight, want none", len(got))
	}
	srv.mu.Lock()
	ss := srv.sessions["ids-sub"]
	srv.mu.Unlock()
	ss.mu.Lock()
	queued := len(ss.queue)
	ss.mu.Unlock()
	if queued != 50 {
		t.Errorf("queued %d, want the 50 beyond the packet id space", queued)
	}
	// An acknowledgement frees one id for the next queued message.
	s.send(&packet.Puback{PacketID: 7})
	if pub := recvAs[*packet.Publish](s); pub.PacketID != 7 {
		t.Errorf("next delivery has packet id %d, want the freed 7", pub.PacketID)
	}
}

// countingAuth counts Authenticate calls.
type countingAuth struct {
	AllowAll
	calls atomic.Int64
}

func (a *countingAuth) Authenticate(ctx context.Context, cp *packet.Connect) packet.ReasonCode {
	a.calls.Add(1)
	return packet.Success
}

// TestOversizedConnect sends a complete CONNECT larger than the pre-auth
// limit: the connection is closed and the authenticator never sees it.
func TestOversizedConnect(t *testing.T) {
	auth := &countingAuth{}
	addr, _ := startServer(t, Options{Auth: auth})
	c := dial(t, addr, packet.V311)
	long := func(n int) string { return string(make([]byte, n)) }
	// About 270 kB, above the 256 kB allowed before authentication.
	big := &packet.Connect{Version: packet.V311, ClientID: long(65000), CleanStart: true,
		UsernameFlag: true, Username: long(65000), PasswordFlag: true, Password: make([]byte, 65535),
		Will: &packet.Will{Topic: "w/" + long(10000), Payload: make([]byte, 65535)}}
	raw, err := packet.Append(nil, big, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) <= preConnectMax {
		t.Fatalf("CONNECT is %d bytes, want more than %d", len(raw), preConnectMax)
	}
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	c.nc.Write(raw) // the server may close before it is all read
	if got := c.closed(); len(got) != 0 {
		t.Errorf("got %v, want the connection closed without CONNACK", got)
	}
	if n := auth.calls.Load(); n != 0 {
		t.Errorf("Authenticate called %d times for an oversized CONNECT, want 0", n)
	}
}

// TestDeepTopics publishes and subscribes with about 30,000 topic levels:
// matching neither overflows nor stalls, and the message arrives.
func TestDeepTopics(t *testing.T) {
	addr, _ := startServer(t, Options{})
	deep := strings.Repeat("a/", 30000) + "z"
	s := connected(t, addr, packet.V5, "deep-sub")
	s.subscribe(1, sub("#", 0), sub(strings.Repeat("+/", 30000)+"#", 0), sub(deep, 0))
	p := connected(t, addr, packet.V5, "deep-pub")
	start := time.Now()
	p.publish(&packet.Publish{Topic: deep, QoS: 1, PacketID: 1, Payload: []byte("x")})
	got := s.sync()
	if len(got) != 1 {
		t.Fatalf("got %d packets, want one PUBLISH for three matching subscriptions", len(got))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("routing a 30,000-level topic took %v", d)
	}
}

// TestQoS2SameIDFlood sends 10,000 QoS 2 PUBLISH packets with one packet
// id and never a PUBREL: one message is delivered and one id is held.
func TestQoS2SameIDFlood(t *testing.T) {
	addr, srv := startServer(t, Options{})
	s := connected(t, addr, packet.V311, "q2f-sub")
	s.subscribe(1, sub("q2f", 0))
	p := connected(t, addr, packet.V311, "q2f-pub")
	bw := bufio.NewWriter(p.nc)
	for range 10000 {
		packet.Write(bw, &packet.Publish{Topic: "q2f", QoS: 2, PacketID: 1, Payload: []byte("x")}, p.v)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pk := range p.sync() {
		if _, ok := pk.(*packet.Pubrec); ok {
			n++
		}
	}
	if n != 10000 {
		t.Errorf("got %d PUBREC, want 10000", n)
	}
	if got := s.sync(); len(got) != 1 {
		t.Errorf("subscriber got %d packets, want 1 PUBLISH", len(got))
	}
	srv.mu.Lock()
	ss := srv.sessions["q2f-pub"]
	srv.mu.Unlock()
	ss.mu.Lock()
	held := len(ss.inQoS2)
	ss.mu.Unlock()
	if held != 1 {
		t.Errorf("%d inbound QoS 2 ids held, want 1", held)
	}
}

// TestManyFilters subscribes to 10,000 filters in one SUBSCRIBE and
// unsubscribes them in one UNSUBSCRIBE, in reasonable time.
func TestManyFilters(t *testing.T) {
	addr, srv := startServer(t, Options{})
	c := connected(t, addr, packet.V5, "many")
	subs := make([]packet.Subscription, 10000)
	filters := make([]string, len(subs))
	for i := range subs {
		filters[i] = "many/" + strconv.Itoa(i) + "/+"
		subs[i] = sub(filters[i], 1)
	}
	start := time.Now()
	if ack := c.subscribe(1, subs...); len(ack.ReasonCodes) != len(subs) {
		t.Fatalf("SUBACK has %d reason codes, want %d", len(ack.ReasonCodes), len(subs))
	}
	c.send(&packet.Unsubscribe{PacketID: 2, Filters: filters})
	if ack := recvAs[*packet.Unsuback](c); len(ack.ReasonCodes) != len(filters) {
		t.Fatalf("UNSUBACK has %d reason codes, want %d", len(ack.ReasonCodes), len(filters))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("10,000 filters took %v", d)
	}
	srv.tree.mu.RLock()
	left := srv.tree.count
	srv.tree.mu.RUnlock()
	if left != 0 {
		t.Errorf("%d subscriptions left in the tree, want 0", left)
	}
}

// TestOneByteWrites sends CONNECT, SUBSCRIBE and PUBLISH one byte per
// write: the broker parses across every split.
func TestOneByteWrites(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			c := dial(t, addr, v)
			if tcp, ok := c.nc.(*net.TCPConn); ok {
				tcp.SetNoDelay(true)
			}
			var raw []byte
			for _, p := range []packet.Packet{
				&packet.Connect{Version: v, ClientID: "bytes-" + v.String(), CleanStart: true},
				&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub("bytes/"+v.String(), 1)}},
				&packet.Publish{Topic: "bytes/" + v.String(), QoS: 1, PacketID: 2, Payload: []byte("sliced")},
			} {
				b, err := packet.Append(nil, p, v)
				if err != nil {
					t.Fatal(err)
				}
				raw = append(raw, b...)
			}
			for i := range raw {
				c.sendRaw(raw[i : i+1])
			}
			recvAs[*packet.Connack](c)
			recvAs[*packet.Suback](c)
			var pub *packet.Publish
			for pub == nil {
				switch pk := c.recv().(type) {
				case *packet.Publish:
					pub = pk
				case *packet.Puback:
				default:
					t.Fatalf("got %T, want PUBLISH or PUBACK", pk)
				}
			}
			if string(pub.Payload) != "sliced" {
				t.Errorf("payload = %q, want sliced", pub.Payload)
			}
		})
	}
}

// TestManyUserProperties connects with 5,000 user properties and publishes
// with as many: handled in about linear time and forwarded unchanged.
func TestManyUserProperties(t *testing.T) {
	addr, _ := startServer(t, Options{})
	users := make([]packet.UserProperty, 5000)
	for i := range users {
		users[i] = packet.UserProperty{Key: "k" + strconv.Itoa(i), Value: "v"}
	}
	start := time.Now()
	c := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "users", CleanStart: true}
	cp.Props.User = users
	if ack := c.connect(cp); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v, want success", ack.ReasonCode)
	}
	c.subscribe(1, sub("users", 0))
	pub := &packet.Publish{Topic: "users", Payload: []byte("x")}
	pub.Props.User = users
	c.send(pub)
	got := recvAs[*packet.Publish](c)
	if len(got.Props.User) != len(users) || got.Props.User[4999] != users[4999] {
		t.Errorf("forwarded %d user properties, want %d in order", len(got.Props.User), len(users))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("5,000 user properties took %v", d)
	}
}

// TestServeAgainWhileStopping starts a Serve call while the last one is
// still waiting for a writer stuck on a client that does not read. The old
// call returns once the writer gives up; it does not wait for the new call,
// which serves on.
func TestServeAgainWhileStopping(t *testing.T) {
	// Long enough for the test to see the first call stopping, however
	// loaded the machine.
	closeGrace = 3 * time.Second
	t.Cleanup(func() { closeGrace = time.Second })
	s := New(Options{SysInterval: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serversMu.Lock()
	servers[addr] = s
	serversMu.Unlock()
	t.Cleanup(func() {
		serversMu.Lock()
		delete(servers, addr)
		serversMu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstDone := make(chan error, 1)
	go func() { firstDone <- s.Serve(ctx, ln) }()

	// A subscriber that never reads, and 32 MiB queued for it: more than
	// the socket buffers hold, so its writer blocks.
	stuck := connected(t, addr, packet.V311, "stuck")
	stuck.subscribe(1, sub("big", 0))
	p := connected(t, addr, packet.V311, "big-pub")
	payload := make([]byte, 256<<10)
	for range 128 {
		p.send(&packet.Publish{Topic: "big", Payload: payload})
	}
	p.sync()

	cancel()
	waitFor(t, "the first Serve call counted as stopped", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.serving == 0
	})
	select {
	case err := <-firstDone:
		t.Fatalf("the first Serve returned (%v) before its writer gave up: the test needs a stuck writer", err)
	default:
	}
	addrs, stop := serveUntil(t, s, 1)
	defer stop()
	select {
	case err := <-firstDone:
		if err != nil {
			t.Errorf("first Serve = %v, want nil", err)
		}
	case <-time.After(closeGrace + testTimeout):
		t.Fatalf("the first Serve call still waiting %v after it stopped, while a second one runs", closeGrace+testTimeout)
	}
	connected(t, addrs[0], packet.V311, "after") // the second call serves on
}
