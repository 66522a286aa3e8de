package broker

import (
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// persistent connects id keeping its session (3.1.1 clean session 0, v5
// Clean Start 0 with a session expiry) and returns the client and CONNACK.
func persistent(t testing.TB, addr string, v packet.Version, id string) (*tc, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, v)
	cp := &packet.Connect{ClientID: id}
	if v == packet.V5 {
		cp.Props.SetUint(packet.PropSessionExpiry, 300)
	}
	return c, c.connect(cp)
}

func TestSessionCleanSession(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "cs-" + v.String()
			c, ack := persistent(t, addr, v, id)
			if ack.SessionPresent {
				t.Fatalf("first CONNACK session present = true")
			}
			c.subscribe(1, sub("cs/"+v.String(), 1))
			c.send(&packet.Disconnect{})
			c.closed()

			c, ack = persistent(t, addr, v, id)
			if !ack.SessionPresent {
				t.Fatalf("resumed CONNACK session present = false, want true")
			}
			c.send(&packet.Disconnect{})
			c.closed()

			// Clean start discards it.
			c = dial(t, addr, v)
			if ack := c.connect(&packet.Connect{ClientID: id, CleanStart: true}); ack.SessionPresent {
				t.Errorf("clean start CONNACK session present = true, want false")
			}
			p := connected(t, addr, v, id+"-pub")
			p.publish(&packet.Publish{Topic: "cs/" + v.String(), QoS: 1, PacketID: 1, Payload: []byte("x")})
			if got := c.sync(); len(got) != 0 {
				t.Errorf("clean session still subscribed: got %v", got)
			}
		})
	}
}

func TestSessionExpiryZero(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := dial(t, addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "se0"}) // Clean Start 0, expiry 0
	c.subscribe(1, sub("se0", 1))
	c.send(&packet.Disconnect{})
	c.closed()
	c = dial(t, addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "se0"}); ack.SessionPresent {
		t.Errorf("session present after expiry 0, want false")
	}
}

func TestSessionExpiryOnDisconnect(t *testing.T) {
	addr, _ := startServer(t, Options{})
	t.Run("set to 0 ends the session", func(t *testing.T) {
		c, _ := persistent(t, addr, packet.V5, "sed1")
		d := &packet.Disconnect{}
		d.Props.SetUint(packet.PropSessionExpiry, 0)
		c.send(d)
		c.closed()
		c, ack := persistent(t, addr, packet.V5, "sed1")
		if ack.SessionPresent {
			t.Errorf("session present after DISCONNECT with expiry 0")
		}
		_ = c
	})
	t.Run("raised from 0 is a protocol error", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		c.connect(&packet.Connect{ClientID: "sed2", CleanStart: true})
		d := &packet.Disconnect{}
		d.Props.SetUint(packet.PropSessionExpiry, 60)
		c.send(d)
		got := c.closed()
		if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.ProtocolError {
			t.Errorf("got %v, want DISCONNECT 0x82 [MQTT-3.14.2-2]", got)
		}
	})
	t.Run("raised from non-zero keeps the session", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "sed3", CleanStart: true}
		cp.Props.SetUint(packet.PropSessionExpiry, 1)
		c.connect(cp)
		d := &packet.Disconnect{}
		d.Props.SetUint(packet.PropSessionExpiry, 600)
		c.send(d)
		c.closed()
		if _, ack := persistent(t, addr, packet.V5, "sed3"); !ack.SessionPresent {
			t.Errorf("session lost after DISCONNECT raised its expiry")
		}
	})
}

func TestSessionExpiryTimer(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "set"}
	cp.Props.SetUint(packet.PropSessionExpiry, 1)
	c.connect(cp)
	c.send(&packet.Disconnect{})
	c.closed()
	waitFor(t, "session to expire", func() bool { return !sessionExists(t, addr, "set") })
}

func TestOfflineQueue(t *testing.T) {
	addr, s := startServer(t, Options{MaxQueuedMessages: 3})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "oq-" + v.String()
			topic := "oq/" + v.String()
			c, _ := persistent(t, addr, v, id)
			c.subscribe(1, sub(topic, 2))
			c.send(&packet.Disconnect{})
			c.closed()

			dropped := s.stats.pubDrops.Load()
			p := connected(t, addr, v, id+"-pub")
			for i := range 5 {
				p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte{byte(i)}})
			}
			p.publish(&packet.Publish{Topic: topic, QoS: 0, Payload: []byte{99}}) // QoS 0 is not queued offline
			p.sync()
			if d := s.stats.pubDrops.Load() - dropped; d != 3 {
				t.Errorf("dropped %d, want 3 (2 over max-queued-messages 3, 1 QoS 0)", d)
			}
			c, ack := persistent(t, addr, v, id)
			if !ack.SessionPresent {
				t.Fatalf("session present = false")
			}
			got := c.sync()
			if len(got) != 3 {
				t.Fatalf("got %d queued messages, want 3", len(got))
			}
			for i, g := range got {
				if pub := g.(*packet.Publish); pub.Payload[0] != byte(i) || pub.QoS != 1 {
					t.Errorf("message %d = %+v, want payload %d at QoS 1", i, pub, i)
				}
			}
		})
	}
}

func TestOfflineQueueBytes(t *testing.T) {
	addr, _ := startServer(t, Options{MaxQueuedBytes: 10})
	c, _ := persistent(t, addr, packet.V311, "oqb")
	c.subscribe(1, sub("oqb", 1))
	c.send(&packet.Disconnect{})
	c.closed()
	p := connected(t, addr, packet.V311, "oqb-pub")
	for range 4 {
		p.publish(&packet.Publish{Topic: "oqb", QoS: 1, PacketID: 1, Payload: []byte("1234")})
	}
	c, _ = persistent(t, addr, packet.V311, "oqb")
	if got := c.sync(); len(got) != 2 {
		t.Errorf("got %d messages, want 2 (8 of max-queued-bytes 10)", len(got))
	}
}

// TestResendOnReconnect checks [MQTT-4.4.0-1]: unacknowledged PUBLISH
// packets are re-sent with DUP set and PUBREL packets re-sent, in order.
func TestResendOnReconnect(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "rs-" + v.String()
			topic := "rs/" + v.String()
			c, _ := persistent(t, addr, v, id)
			c.subscribe(1, sub(topic, 2))
			p := connected(t, addr, v, id+"-pub")
			p.publish(&packet.Publish{Topic: topic, QoS: 2, PacketID: 1, Payload: []byte("a")})
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("b")})
			p.publish(&packet.Publish{Topic: topic, QoS: 2, PacketID: 1, Payload: []byte("c")})
			first := c.sync()
			if len(first) != 3 {
				t.Fatalf("got %v, want 3 PUBLISH", first)
			}
			a := first[0].(*packet.Publish)
			c.send(&packet.Pubrec{PacketID: a.PacketID}) // "a" moves to PUBREL
			recvAs[*packet.Pubrel](c)
			c.nc.Close()
			waitFor(t, id+" offline", func() bool { return sessionOffline(t, addr, id) })

			c, ack := persistent(t, addr, v, id)
			if !ack.SessionPresent {
				t.Fatalf("session present = false")
			}
			got := c.sync()
			if len(got) != 3 {
				t.Fatalf("after reconnect got %v, want PUBREL, PUBLISH b, PUBLISH c", got)
			}
			if rel, ok := got[0].(*packet.Pubrel); !ok || rel.PacketID != a.PacketID {
				t.Errorf("first = %+v, want PUBREL %d", got[0], a.PacketID)
			}
			for i, want := range []string{"b", "c"} {
				pub, ok := got[i+1].(*packet.Publish)
				if !ok || string(pub.Payload) != want || !pub.Dup || pub.PacketID != first[i+1].(*packet.Publish).PacketID {
					t.Errorf("re-sent %d = %+v, want PUBLISH %q with DUP and the same packet id", i, got[i+1], want)
				}
			}
		})
	}
}

// TestOnlineQueueLimit: a connected subscriber that never acknowledges gets
// the inflight window, then queued messages up to max-queued-messages; the
// rest are dropped and counted, and the publisher is never held up.
func TestOnlineQueueLimit(t *testing.T) {
	addr, s := startServer(t, Options{MaxInflightMessages: 2, MaxQueuedMessages: 3})
	c := connected(t, addr, packet.V311, "olq")
	c.subscribe(1, sub("olq", 1))
	p := connected(t, addr, packet.V311, "olq-pub")
	for i := range 10 {
		p.publish(&packet.Publish{Topic: "olq", QoS: 1, PacketID: 1, Payload: []byte{byte(i)}})
	}
	if d := s.stats.pubDrops.Load(); d != 5 {
		t.Errorf("dropped %d, want 5 (10 - 2 inflight - 3 queued)", d)
	}
	var got []byte
	for len(got) < 5 {
		batch := c.sync()
		if len(batch) == 0 {
			t.Fatalf("no more messages after %v", got)
		}
		for _, b := range batch {
			pub := b.(*packet.Publish)
			got = append(got, pub.Payload[0])
			c.send(&packet.Puback{PacketID: pub.PacketID})
		}
	}
	if string(got) != "\x00\x01\x02\x03\x04" {
		t.Errorf("delivered % x, want 00 01 02 03 04 in order", got)
	}
}
