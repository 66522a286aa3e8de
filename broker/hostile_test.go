package broker

import (
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// TestMalformedV5 checks malformed or protocol-violating input from a v5
// client gets DISCONNECT with the codec's reason code and a reason string.
func TestMalformedV5(t *testing.T) {
	addr, _ := startServer(t, Options{})
	tests := []struct {
		name string
		raw  []byte
		want packet.ReasonCode
	}{
		{"PUBLISH QoS 3", []byte{0x36, 0x05, 0, 1, 'a', 0, 1}, packet.MalformedPacket},
		{"reserved type 0", []byte{0x00, 0x00}, packet.MalformedPacket},
		{"PUBREL bad flags", []byte{0x60, 0x02, 0, 1}, packet.MalformedPacket},
		{"server-only CONNACK", []byte{0x20, 0x03, 0, 0, 0}, packet.ProtocolError},
		{"server-only SUBACK", []byte{0x90, 0x04, 0, 1, 0, 0}, packet.ProtocolError},
		{"PUBLISH wildcard topic", []byte{0x30, 0x06, 0, 3, 'a', '/', '#', 0}, packet.TopicNameInvalid},
		{"SUBSCRIBE no filters", []byte{0x82, 0x03, 0, 1, 0}, packet.ProtocolError},
		{"truncated SUBSCRIBE", []byte{0x82, 0x06, 0, 1, 0, 0, 1, 'a'}, packet.MalformedPacket},
		{"AUTH without method", []byte{0xF0, 0x00}, packet.ProtocolError},
		// PUBLISH "a" with a Subscription Identifier property (0x0B 1).
		{"PUBLISH with subscription id", []byte{0x30, 0x06, 0, 1, 'a', 2, 0x0B, 1}, packet.ProtocolError},
		{"invalid UTF-8 topic", []byte{0x30, 0x05, 0, 2, 0xC0, 0xAF, 0}, packet.MalformedPacket},
		// MQTT 5.0 section 3.3.2.3.4: a Protocol Error.
		{"empty topic without alias", []byte{0x30, 0x03, 0, 0, 0}, packet.ProtocolError},
		{"U+0000 in topic", []byte{0x30, 0x05, 0, 2, 'a', 0, 0}, packet.MalformedPacket},
		{"surrogate in topic", []byte{0x30, 0x06, 0, 3, 0xED, 0xA0, 0x80, 0}, packet.MalformedPacket},
		{"alias 0", []byte{0x30, 0x07, 0, 1, 'a', 3, 0x23, 0, 0}, packet.ProtocolError}, // [MQTT-3.3.2-8]
		{"SUBSCRIBE reserved option bits", []byte{0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0xC0}, packet.MalformedPacket},
		{"SUBSCRIBE retain handling 3", []byte{0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x30}, packet.ProtocolError},
		{"PUBREL unknown reason", []byte{0x62, 0x03, 0, 1, 0x05}, packet.ProtocolError},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connected(t, addr, packet.V5, fmt.Sprintf("mal-%d", i))
			c.sendRaw(tt.raw)
			got := c.closed()
			if len(got) != 1 {
				t.Fatalf("after % x got %v, want DISCONNECT then close", tt.raw, got)
			}
			d, ok := got[0].(*packet.Disconnect)
			if !ok || d.ReasonCode != tt.want {
				t.Fatalf("after % x got %+v, want DISCONNECT %v", tt.raw, got[0], tt.want)
			}
			if d.Props.ReasonString == "" {
				t.Errorf("DISCONNECT %v without a reason string", d.ReasonCode)
			}
		})
	}
}

func TestMalformedV3(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for i, raw := range [][]byte{
		{0x36, 0x05, 0, 1, 'a', 0, 1},
		{0x20, 0x02, 0, 0},
		{0xF0, 0x00},
		{0x82, 0x06, 0, 1, 0, 1, 'a', 3},
	} {
		t.Run(fmt.Sprintf("% x", raw), func(t *testing.T) {
			c := connected(t, addr, packet.V311, fmt.Sprintf("mal3-%d", i))
			c.sendRaw(raw)
			if got := c.closed(); len(got) != 0 {
				t.Errorf("after % x got %v, want close without a packet", raw, got)
			}
		})
	}
}

func TestGarbageBytes(t *testing.T) {
	addr, _ := startServer(t, Options{ConnectTimeout: 500 * time.Millisecond})
	other := connected(t, addr, packet.V311, "garbage-bystander")
	for _, raw := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, // 5-byte remaining length
		{0xFF, 0xFF, 0xFF, 0xFF},
		{0x10, 0x02, 0x00},
	} {
		c := dial(t, addr, packet.V311)
		c.sendRaw(raw)
		c.closed()
	}
	if got := other.sync(); len(got) != 0 {
		t.Errorf("bystander got %v", got)
	}
}

// TestHugeRemainingLength declares a 256 MB CONNECT and a 256 MB PUBLISH:
// neither is allocated, both connections are closed.
func TestHugeRemainingLength(t *testing.T) {
	addr, _ := startServer(t, Options{MaxPacketSize: 1 << 20})
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	c := dial(t, addr, packet.V311)
	c.sendRaw([]byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F})
	c.closed()
	p := connected(t, addr, packet.V5, "huge")
	p.sendRaw([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, 'a'})
	got := p.closed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.PacketTooLarge {
		t.Errorf("got %v, want DISCONNECT 0x95", got)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
		t.Errorf("allocated %d MB for declared lengths, want them never allocated", grown>>20)
	}
}

// TestSlowloris trickles a CONNECT one byte at a time; the connect timeout
// closes it whatever arrives.
func TestSlowloris(t *testing.T) {
	addr, _ := startServer(t, Options{ConnectTimeout: 300 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	start := time.Now()
	for _, b := range connect[:len(connect)-1] {
		if _, err := c.nc.Write([]byte{b}); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.closed()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about the 300ms connect timeout", d)
	}
}

// TestStuckSubscriber: a subscriber that never reads its socket does not
// block the publisher or another subscriber; its QoS 0 overflow is dropped
// and counted.
func TestStuckSubscriber(t *testing.T) {
	addr, s := startServer(t, Options{MaxQueuedMessages: 1000, MaxInflightMessages: -1})
	stuck := connected(t, addr, packet.V311, "stuck")
	stuck.subscribe(1, sub("flood", 0))
	if tcp, ok := stuck.nc.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4096)
	}
	fine := connected(t, addr, packet.V311, "fine")
	fine.subscribe(1, sub("flood", 1))
	p := connected(t, addr, packet.V311, "flooder")
	payload := make([]byte, 16<<10)
	const n = 3000
	received := make(chan int, 1)
	go func() {
		count := 0
		for count < n {
			fine.nc.SetReadDeadline(time.Now().Add(testTimeout))
			pk, err := packet.Read(fine.br, fine.v, 0)
			if err != nil {
				break
			}
			if pub, ok := pk.(*packet.Publish); ok {
				if packet.Write(fine.nc, &packet.Puback{PacketID: pub.PacketID}, fine.v) != nil {
					break
				}
				count++
			}
		}
		received <- count
	}()
	start := time.Now()
	for i := range n {
		p.publish(&packet.Publish{Topic: "flood", QoS: 1, PacketID: uint16(i%1000 + 1), Payload: payload})
	}
	if got := <-received; got != n {
		t.Errorf("healthy subscriber got %d of %d messages", got, n)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("flood took %v with a stuck subscriber", d)
	}
	if s.stats.pubDrops.Load() == 0 {
		t.Errorf("no drops counted for the stuck subscriber")
	}
}

func TestShutdownDisconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{SysInterval: -1})
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	v5 := connected(t, addr, packet.V5, "sd5")
	v3 := connected(t, addr, packet.V311, "sd3")
	idle := dial(t, addr, packet.V311) // never sends CONNECT
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v, want within 2s", d)
	}
	got := v5.closed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.ServerShuttingDown {
		t.Errorf("v5 client got %v, want DISCONNECT 0x8B", got)
	}
	if got := v3.closed(); len(got) != 0 {
		t.Errorf("3.1.1 client got %v, want close", got)
	}
	idle.closed()
}

// TestRandomInput sends random frames after CONNECT on many connections:
// whatever happens to them, the server does not crash and a bystander keeps
// working.
func TestRandomInput(t *testing.T) {
	addr, _ := startServer(t, Options{ConnectTimeout: 500 * time.Millisecond})
	bystander := connected(t, addr, packet.V5, "random-bystander")
	bystander.subscribe(1, sub("#", 0))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		v := []packet.Version{packet.V31, packet.V311, packet.V5}[i%3]
		c := connected(t, addr, v, fmt.Sprintf("random-%d", i))
		frame := make([]byte, 2+rng.IntN(40))
		for j := range frame {
			frame[j] = byte(rng.UintN(256))
		}
		frame[0] = byte(rng.UintN(16))<<4 | frame[0]&0x0F
		frame[1] = byte(len(frame) - 2)
		c.sendRaw(frame)
		c.nc.Close()
	}
	p := connected(t, addr, packet.V5, "random-after")
	p.publish(&packet.Publish{Topic: "still/alive", QoS: 1, PacketID: 1, Payload: []byte("ok")})
	for {
		pub := recvAs[*packet.Publish](bystander)
		if pub.Topic == "still/alive" {
			break
		}
	}
}

// flakyListener fails its first Accept calls like a process out of file
// descriptors.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, syscall.EMFILE
	}
	return l.Listener.Accept()
}

func TestAcceptErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(3)
	s := New(Options{SysInterval: -1})
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, fl) }()
	c := connected(t, ln.Addr().String(), packet.V311, "after-emfile")
	c.sync()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}
