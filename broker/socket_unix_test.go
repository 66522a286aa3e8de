//go:build unix

package broker

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// TestWriteAtOnce checks the packets a connection writes itself, without
// its writer goroutine (pushNow): QoS 0 messages written that way do not
// count against max-queued-messages, and a packet the socket takes only in
// part is finished by the writer, in order.
func TestWriteAtOnce(t *testing.T) {
	real := writeSocket
	var mu sync.Mutex
	var calls, partial int
	short := 0 // when > 0, the next write of a larger buffer takes only this many bytes
	writeSocket = func(fd uintptr, b []byte) (int, error) {
		mu.Lock()
		if len(b) > 50 { // a PUBLISH, not an acknowledgement
			calls++
		}
		cut := short
		if cut > 0 && len(b) > cut {
			short = 0
			partial++
			b = b[:cut]
		}
		mu.Unlock()
		return real(fd, b)
	}
	t.Cleanup(func() { writeSocket = real })
	addr, _ := startServer(t, Options{MaxQueuedMessages: 10})
	s := connected(t, addr, packet.V311, "wn-sub")
	s.subscribe(1, sub("wn", 0))
	p := connected(t, addr, packet.V311, "wn-pub")

	const n = 50
	for i := range n {
		// A writer goroutine still winding down (after the SUBACK or the
		// partial write) takes the message instead, as it should.
		waitFor(t, "wn-sub's writer idle", func() bool { return writerIdle(t, addr, "wn-sub") })
		if i == n-2 {
			mu.Lock()
			short = 7 // the fixed header and part of the topic
			mu.Unlock()
		}
		p.publish(&packet.Publish{Topic: "wn", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(strings.Repeat(strconv.Itoa(i), 100))})
	}
	for i := range n {
		got := recvAs[*packet.Publish](s)
		if want := strings.Repeat(strconv.Itoa(i), 100); got.Topic != "wn" || string(got.Payload) != want {
			t.Fatalf("message %d: %s %.20q..., want wn %.20q...", i, got.Topic, got.Payload, want)
		}
	}
	mu.Lock()
	live := calls
	mu.Unlock()

	// Retained messages sent on SUBSCRIBE come many at once: none is
	// written alone, so the writer batches them.
	addr2, _ := startServer(t, Options{MaxQueuedMessages: -1})
	p2 := connected(t, addr2, packet.V311, "wn-pub2")
	const retained = 500
	for i := range retained {
		p2.send(&packet.Publish{Topic: "wr/" + strconv.Itoa(i), Retain: true, Payload: []byte(strings.Repeat("r", 60))})
	}
	p2.sync()
	r := connected(t, addr2, packet.V311, "wn-retained")
	mu.Lock()
	before := calls
	mu.Unlock()
	r.subscribe(1, sub("wr/#", 0))
	for range retained {
		recvAs[*packet.Publish](r)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != before {
		t.Errorf("%d of %d retained messages written one at a time, want all left to the writer", calls-before, retained)
	}
	calls = live
	if calls != n {
		t.Errorf("%d PUBLISH packets written at once, want the %d sent one at a time", calls, n)
	}
	if partial != 1 {
		t.Errorf("%d partial writes, want the 1 the test made", partial)
	}
}

// writerIdle reports whether the connection of session id on the server at
// addr has no writer goroutine.
func writerIdle(t testing.TB, addr, id string) bool {
	ss := sessionAt(t, addr, id)
	if ss == nil {
		t.Fatalf("no session %q", id)
	}
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c == nil {
		t.Fatalf("session %q is offline", id)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return !c.writing
}
