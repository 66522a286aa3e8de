package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

func willConnect(id string, v packet.Version, keepAlive uint16) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Will: &packet.Will{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1}}
}

func TestWill(t *testing.T) {
	addr, _ := startServer(t, Options{})
	watcher := connected(t, addr, packet.V5, "will-watch")
	watcher.subscribe(1, sub("will/#", 1))
	tests := []struct {
		name     string
		v        packet.Version
		keep     uint16
		end      func(c *tc)
		wantWill bool
	}{
		{"socket closed 3.1.1", packet.V311, 0, func(c *tc) { c.nc.Close() }, true},
		{"socket closed 5", packet.V5, 0, func(c *tc) { c.nc.Close() }, true},
		{"protocol error", packet.V311, 0, func(c *tc) { c.sendRaw([]byte{0xF0, 0x00}); c.closed() }, true},
		{"keep alive timeout", packet.V311, 1, func(c *tc) { c.closed() }, true},
		{"normal disconnect 3.1.1", packet.V311, 0, func(c *tc) { c.send(&packet.Disconnect{}); c.closed() }, false},
		{"normal disconnect 5", packet.V5, 0, func(c *tc) { c.send(&packet.Disconnect{}); c.closed() }, false},
		{"disconnect with will 5", packet.V5, 0, func(c *tc) {
			c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage})
			c.closed()
		}, true},
		{"disconnect with an error 5", packet.V5, 0, func(c *tc) {
			c.send(&packet.Disconnect{ReasonCode: packet.UnspecifiedError})
			c.closed()
		}, true},
		{"takeover", packet.V311, 0, func(c *tc) {
			n := dial(c.t, c.nc.RemoteAddr().String(), packet.V311)
			n.connect(&packet.Connect{ClientID: "will-" + "takeover", CleanStart: true})
			c.closed()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "will-" + tt.name
			if tt.name == "takeover" {
				id = "will-takeover"
			}
			c := dial(t, addr, tt.v)
			c.connect(willConnect(id, tt.v, tt.keep))
			tt.end(c)
			if tt.wantWill {
				got := recvAs[*packet.Publish](watcher.in(t))
				if got.Topic != "will/"+id || string(got.Payload) != "gone" || got.QoS != 1 {
					t.Errorf("will = %+v, want \"gone\" on will/%s at QoS 1", got, id)
				}
				watcher.send(&packet.Puback{PacketID: got.PacketID})
				return
			}
			// A late will would be queued before the PINGRESP of a sync
			// made after the server has processed the disconnect.
			waitFor(t, "client gone", func() bool { return !sessionExists(t, addr, id) })
			if got := watcher.in(t).sync(); len(got) != 0 {
				t.Errorf("got %v, want no will after a normal DISCONNECT", got)
			}
		})
	}
}

// sessionExists reports whether the server at addr holds a session for id.
func sessionExists(t testing.TB, addr, id string) bool {
	return sessionAt(t, addr, id) != nil
}

func TestWillRetainedAndQoS(t *testing.T) {
	addr, srv := startServer(t, Options{})
	c := dial(t, addr, packet.V311)
	cp := willConnect("wr", packet.V311, 0)
	cp.Will.Retain = true
	cp.Will.QoS = 2
	c.connect(cp)
	c.nc.Close()
	waitFor(t, "retained will", func() bool { return srv.store.RetainedCount() == 1 })
	w := connected(t, addr, packet.V311, "wr-watch")
	w.subscribe(1, sub("will/wr", 2))
	p := recvAs[*packet.Publish](w)
	if !p.Retain || p.QoS != 2 || string(p.Payload) != "gone" {
		t.Fatalf("got %q retain %v QoS %d, want retained will \"gone\" at QoS 2", p.Payload, p.Retain, p.QoS)
	}
	w.send(&packet.Pubrec{PacketID: p.PacketID})
	recvAs[*packet.Pubrel](w)
	w.send(&packet.Pubcomp{PacketID: p.PacketID})
}

func TestWillDelay(t *testing.T) {
	addr, _ := startServer(t, Options{})
	watcher := connected(t, addr, packet.V5, "wd-watch")
	watcher.subscribe(1, sub("will/#", 0))

	connectDelayed := func(id string, delay uint64) *tc {
		c := dial(t, addr, packet.V5)
		cp := willConnect(id, packet.V5, 0)
		cp.CleanStart = false
		cp.Props.SetUint(packet.PropSessionExpiry, 60)
		cp.Will.Props.SetUint(packet.PropWillDelay, delay)
		c.connect(cp)
		return c
	}
	t.Run("sent after delay", func(t *testing.T) {
		c := connectDelayed("wd1", 1)
		start := time.Now()
		c.nc.Close()
		got := recvAs[*packet.Publish](watcher.in(t))
		if d := time.Since(start); got.Topic != "will/wd1" || d < 900*time.Millisecond {
			t.Errorf("will %q after %v, want will/wd1 after about 1s", got.Topic, d)
		}
	})
	t.Run("cancelled by reconnect", func(t *testing.T) {
		// A delay long enough that the reconnection always comes first,
		// however loaded the machine.
		c := connectDelayed("wd2", 30)
		c.nc.Close()
		waitFor(t, "wd2 offline", func() bool { return sessionOffline(t, addr, "wd2") })
		if !willPending(t, addr, "wd2") {
			t.Fatal("no will pending for wd2 after its connection ended")
		}
		n := dial(t, addr, packet.V5)
		if ack := n.connect(&packet.Connect{ClientID: "wd2"}); !ack.SessionPresent {
			t.Fatalf("reconnect: session present = false")
		}
		if willPending(t, addr, "wd2") {
			t.Error("will still pending after the reconnection, want it cancelled [MQTT-3.1.3-9]")
		}
		if got := watcher.in(t).sync(); len(got) != 0 {
			t.Errorf("got %v, want no will after reconnect within the delay", got)
		}
	})
}

// willPending reports whether session id on the server at addr holds a
// will waiting for its delay, with its timer.
func willPending(t testing.TB, addr, id string) bool {
	ss := sessionAt(t, addr, id)
	if ss == nil {
		t.Fatalf("no session %q", id)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if (ss.pendingWill == nil) != (ss.willTimer == nil) {
		t.Errorf("session %q: pending will %v but timer %v", id, ss.pendingWill != nil, ss.willTimer != nil)
	}
	return ss.pendingWill != nil
}

func sessionOffline(t testing.TB, addr, id string) bool {
	ss := sessionAt(t, addr, id)
	if ss == nil {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.conn == nil
}

// willTopics returns "topic=payload" for the PUBLISH packets in ps, sorted.
func willTopics(ps []packet.Packet) []string {
	var topics []string
	for _, p := range ps {
		if pub, ok := p.(*packet.Publish); ok {
			topics = append(topics, pub.Topic+"="+string(pub.Payload))
		}
	}
	slices.Sort(topics)
	return topics
}

// persistentWill connects id at v5 on addr with a session that outlives
// the connection and a will sent delay seconds after it ends.
func persistentWill(t *testing.T, addr, id string, delay uint64) *tc {
	t.Helper()
	c := dial(t, addr, packet.V5)
	cp := willConnect(id, packet.V5, 0)
	cp.CleanStart = false
	cp.Props.SetUint(packet.PropSessionExpiry, 7200)
	if delay > 0 {
		cp.Will.Props.SetUint(packet.PropWillDelay, delay)
	}
	c.connect(cp)
	return c
}

// TestWillOnShutdown checks that stopping the server publishes the wills of
// the clients still connected, whatever their Will Delay Interval, and the
// delayed wills of those gone, before any subscriber on any of its
// listeners is disconnected, as mosquitto 2.0 does; that a will discarded
// by DISCONNECT stays discarded; and that sessions are left as they are.
func TestWillOnShutdown(t *testing.T) {
	s := New(Options{SysInterval: -1})
	addrs, stop := serveUntil(t, s, 2)
	a, b := addrs[0], addrs[1]
	w311 := connected(t, a, packet.V311, "sd-watch-311")
	w311.subscribe(1, sub("will/#", 1))
	w5 := connected(t, b, packet.V5, "sd-watch-5")
	w5.subscribe(1, sub("will/#", 1))

	c311 := dial(t, b, packet.V311)
	c311.connect(willConnect("sd-311", packet.V311, 0))

	persistentWill(t, a, "sd-5-delayed", 3600) // stays connected

	gone := persistentWill(t, b, "sd-5-gone", 3600)
	gone.nc.Close()
	waitFor(t, "sd-5-gone offline", func() bool { return sessionOffline(t, a, "sd-5-gone") })

	left := persistentWill(t, a, "sd-5-04", 3600)
	left.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage})
	left.closed()
	waitFor(t, "sd-5-04 offline", func() bool { return sessionOffline(t, a, "sd-5-04") })

	quit := persistentWill(t, b, "sd-5-quit", 0)
	quit.send(&packet.Disconnect{})
	quit.closed()
	waitFor(t, "sd-5-quit offline", func() bool { return sessionOffline(t, a, "sd-5-quit") })

	quit311 := dial(t, a, packet.V311)
	cp := willConnect("sd-311-quit", packet.V311, 0)
	cp.CleanStart = false
	quit311.connect(cp)
	quit311.send(&packet.Disconnect{})
	quit311.closed()
	waitFor(t, "sd-311-quit offline", func() bool { return sessionOffline(t, a, "sd-311-quit") })

	// Nothing is published before the server stops.
	for _, w := range []*tc{w311, w5} {
		if got := w.sync(); len(got) != 0 {
			t.Fatalf("before the stop: got %v, want nothing", got)
		}
	}
	stop()
	want := []string{"will/sd-311=gone", "will/sd-5-04=gone", "will/sd-5-delayed=gone", "will/sd-5-gone=gone"}
	for _, w := range []*tc{w311, w5} {
		got := w.closed()
		if topics := willTopics(got); !slices.Equal(topics, want) {
			t.Errorf("watcher at %v got wills %q, want %q", w.v, topics, want)
		}
		if w.v == packet.V5 {
			if d, ok := got[len(got)-1].(*packet.Disconnect); !ok || d.ReasonCode != packet.ServerShuttingDown {
				t.Errorf("v5 watcher's last packet = %+v, want DISCONNECT 0x8B after the wills", got[len(got)-1])
			}
		}
	}
	for _, id := range []string{"sd-5-delayed", "sd-5-gone", "sd-5-04", "sd-5-quit", "sd-311-quit", "sd-watch-5"} {
		if !sessionExists(t, a, id) {
			t.Errorf("session %s gone after the stop, want it kept", id)
		}
	}
}

// TestWillOneListenerStops checks that stopping one Serve call while
// another runs ends its connections as a network failure would: a will
// waits for its Will Delay Interval, a session without expiry ends, and
// the delayed wills are published once, when the last Serve call stops.
func TestWillOneListenerStops(t *testing.T) {
	s := New(Options{SysInterval: -1})
	addrs1, stop1 := serveUntil(t, s, 1)
	addrs2, stop2 := serveUntil(t, s, 1)
	a1, a2 := addrs1[0], addrs2[0]
	w := connected(t, a2, packet.V5, "ol-watch")
	w.subscribe(1, sub("will/#", 1))

	gone := persistentWill(t, a1, "ol-gone", 3600)
	gone.nc.Close()
	waitFor(t, "ol-gone offline", func() bool { return sessionOffline(t, a1, "ol-gone") })
	persistentWill(t, a1, "ol-connected", 3600)
	now := dial(t, a1, packet.V311)
	now.connect(willConnect("ol-now", packet.V311, 0))

	stop1()
	waitFor(t, "ol-now's clean session ended", func() bool { return !sessionExists(t, a2, "ol-now") })
	if topics := willTopics(w.sync()); !slices.Equal(topics, []string{"will/ol-now=gone"}) {
		t.Fatalf("after the first listener stopped: wills %q, want only the undelayed [will/ol-now=gone]", topics)
	}
	if !sessionOffline(t, a2, "ol-connected") {
		t.Errorf("ol-connected's session is not kept offline after its listener stopped")
	}
	stop2()
	want := []string{"will/ol-connected=gone", "will/ol-gone=gone"}
	if topics := willTopics(w.closed()); !slices.Equal(topics, want) {
		t.Errorf("after the last listener stopped: wills %q, want %q", topics, want)
	}
}

// willAuth lets everyone do everything but the client "no-will" publish.
type willAuth struct{ AllowAll }

func (willAuth) Authorize(_ context.Context, cl Client, a Access, _ string) bool {
	return a != AccessPublish || cl.ID != "no-will"
}

// TestWillDenied checks that a will its client may not publish is accepted
// with the CONNECT and dropped when it would be published, as mosquitto
// checks then: one refused by the Authenticator, and one on a $SYS topic,
// which no client may publish into. Other wills go out.
func TestWillDenied(t *testing.T) {
	l := &logs{}
	addr, _ := startServer(t, Options{Auth: willAuth{}, Log: l.log, LogLevel: LogDebug})
	w := connected(t, addr, packet.V311, "will-denied-watch")
	w.subscribe(1, sub("w/#", 0), sub("$SYS/#", 0))
	for _, will := range []struct{ id, topic string }{
		{"no-will", "w/no-will"},
		{"sys-will", "$SYS/broker/version"},
		{"yes-will", "w/yes-will"},
	} {
		c := dial(t, addr, packet.V311)
		cp := &packet.Connect{ClientID: will.id, CleanStart: true,
			Will: &packet.Will{Topic: will.topic, Payload: []byte("gone"), Retain: true}}
		if ack := c.connect(cp); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNECT of %s with a will on %s: CONNACK %v, want accepted", will.id, will.topic, ack.ReasonCode)
		}
		c.nc.Close()
	}
	for _, denied := range []string{"Denied will of no-will on w/no-will.", "Denied will of sys-will on $SYS/broker/version."} {
		waitFor(t, denied, func() bool { return l.contains(denied) })
	}
	if got := recvAs[*packet.Publish](w); got.Topic != "w/yes-will" {
		t.Errorf("watcher got the will on %q, want only w/yes-will", got.Topic)
	}
	if got := w.sync(); len(got) != 0 {
		t.Errorf("watcher then got %v, want nothing more", got)
	}
	late := connected(t, addr, packet.V311, "will-denied-late")
	late.subscribe(1, sub("$SYS/#", 0), sub("w/no-will", 0))
	if got := late.sync(); len(got) != 0 {
		t.Errorf("a new subscriber got %v, want no retained will that was denied", got)
	}
}
