package broker

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// TestServerPacketsFitMaximumPacketSize checks that the server drops the
// Reason String of a DISCONNECT or refused CONNACK rather than send a
// packet larger than the client's Maximum Packet Size [MQTT-3.1.2-25]
// [MQTT-3.14.2-3] [MQTT-3.2.2-19].
func TestServerPacketsFitMaximumPacketSize(t *testing.T) {
	addr, _ := startServer(t, Options{})
	const limit = 16
	t.Run("DISCONNECT", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "mps-disc", CleanStart: true}
		cp.Props.SetUint(packet.PropMaximumPacketSize, limit)
		c.connect(cp)
		c.send(&packet.Connect{Version: packet.V5, ClientID: "again"})
		got := c.closed()
		if len(got) != 1 {
			t.Fatalf("got %v, want one DISCONNECT", got)
		}
		d, ok := got[0].(*packet.Disconnect)
		if !ok || d.ReasonCode != packet.ProtocolError {
			t.Fatalf("got %+v, want DISCONNECT 0x82", got[0])
		}
		if n, _ := packet.Size(d, packet.V5); n > limit {
			t.Errorf("DISCONNECT is %d bytes (reason string %q), want at most %d", n, d.Props.ReasonString, limit)
		}
	})
	t.Run("CONNACK", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "mps-ack", CleanStart: true}
		cp.Props.SetUint(packet.PropMaximumPacketSize, limit)
		cp.Props.SetString(packet.PropAuthMethod, "SCRAM-SHA-1")
		ack := c.connect(cp)
		if ack.ReasonCode != packet.BadAuthenticationMethod {
			t.Fatalf("CONNACK reason = %v, want bad authentication method", ack.ReasonCode)
		}
		if n, _ := packet.Size(ack, packet.V5); n > limit {
			t.Errorf("CONNACK is %d bytes (reason string %q), want at most %d", n, ack.Props.ReasonString, limit)
		}
	})
}

// TestResumeReceiveMaximum checks that messages left inflight by one
// connection are re-sent to the next only within its Receive Maximum
// [MQTT-3.3.4-9], and the rest follow as acknowledgements arrive, still
// with their packet ids and DUP set [MQTT-4.4.0-1].
func TestResumeReceiveMaximum(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c, _ := persistent(t, addr, packet.V5, "rm-resume")
	c.subscribe(1, sub("rm/resume", 2))
	p := connected(t, addr, packet.V5, "rm-pub")
	for i := range 5 {
		p.publish(&packet.Publish{Topic: "rm/resume", QoS: packet.QoS(1 + i%2), PacketID: 1, Payload: []byte{byte('a' + i)}})
	}
	first := c.sync()
	if len(first) != 5 {
		t.Fatalf("first connection got %d packets, want 5 PUBLISH", len(first))
	}
	c.nc.Close()

	c = dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "rm-resume"}
	cp.Props.SetUint(packet.PropSessionExpiry, 300)
	cp.Props.SetUint(packet.PropReceiveMaximum, 2)
	if ack := c.connect(cp); !ack.SessionPresent {
		t.Fatalf("CONNACK session present = false, want true")
	}
	// Count what the server has sent and this client not yet acknowledged.
	var got []*packet.Publish
	open := 0
	for len(got) < 5 || open > 0 {
		switch pk := c.recv().(type) {
		case *packet.Publish:
			got = append(got, pk)
			if open++; open > 2 {
				t.Fatalf("%d PUBLISH unacknowledged at once, want at most the Receive Maximum 2", open)
			}
			if pk.QoS == packet.AtLeastOnce {
				open--
				c.send(&packet.Puback{PacketID: pk.PacketID})
			} else {
				c.send(&packet.Pubrec{PacketID: pk.PacketID})
			}
		case *packet.Pubrel:
			open--
			c.send(&packet.Pubcomp{PacketID: pk.PacketID})
		default:
			t.Fatalf("got %T, want PUBLISH or PUBREL", pk)
		}
	}
	for i, pub := range got {
		was := first[i].(*packet.Publish)
		if string(pub.Payload) != string(was.Payload) || pub.PacketID != was.PacketID || !pub.Dup {
			t.Errorf("re-sent #%d = %q id %d dup %v, want %q id %d dup true", i, pub.Payload, pub.PacketID, pub.Dup,
				was.Payload, was.PacketID)
		}
	}
}

// TestTopicAliasScope checks that topic aliases in both directions belong
// to one network connection and start again on reconnect [MQTT-3.3.2-7].
func TestTopicAliasScope(t *testing.T) {
	addr, _ := startServer(t, Options{})
	t.Run("inbound", func(t *testing.T) {
		c, _ := persistent(t, addr, packet.V5, "alias-in")
		pub := &packet.Publish{Topic: "alias/in", Payload: []byte("x")}
		pub.Props.SetUint(packet.PropTopicAlias, 1)
		c.send(pub)
		c.sync()
		c.send(&packet.Disconnect{})
		c.closed()
		c, _ = persistent(t, addr, packet.V5, "alias-in")
		pub = &packet.Publish{Payload: []byte("y")}
		pub.Props.SetUint(packet.PropTopicAlias, 1)
		c.send(pub)
		got := c.closed()
		if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.TopicAliasInvalid {
			t.Errorf("alias of the previous connection: got %v, want DISCONNECT 0x94", got)
		}
	})
	t.Run("outbound", func(t *testing.T) {
		connect := func() *tc {
			c := dial(t, addr, packet.V5)
			cp := &packet.Connect{ClientID: "alias-out"}
			cp.Props.SetUint(packet.PropSessionExpiry, 300)
			cp.Props.SetUint(packet.PropTopicAliasMaximum, 5)
			c.connect(cp)
			return c
		}
		c := connect()
		c.subscribe(1, sub("alias/out", 0))
		p := connected(t, addr, packet.V5, "alias-out-pub")
		p.publish(&packet.Publish{Topic: "alias/out", QoS: 1, PacketID: 1, Payload: []byte("1")})
		if got := recvAs[*packet.Publish](c); got.Topic != "alias/out" || got.Props.TopicAlias == 0 {
			t.Fatalf("first delivery topic %q alias %d, want topic with an alias", got.Topic, got.Props.TopicAlias)
		}
		c.send(&packet.Disconnect{})
		c.closed()
		c = connect()
		p.publish(&packet.Publish{Topic: "alias/out", QoS: 1, PacketID: 1, Payload: []byte("2")})
		if got := recvAs[*packet.Publish](c); got.Topic != "alias/out" {
			t.Errorf("first delivery after reconnect has topic %q alias %d, want the full topic", got.Topic, got.Props.TopicAlias)
		}
	})
}

// TestQueuedMessageExpiry checks that a message delivered from an offline
// queue carries its remaining lifetime, not the original one [MQTT-3.3.2-6].
func TestQueuedMessageExpiry(t *testing.T) {
	addr, srv := startServer(t, Options{})
	c, _ := persistent(t, addr, packet.V5, "qx")
	c.subscribe(1, sub("qx", 1))
	c.send(&packet.Disconnect{})
	c.closed()
	p := connected(t, addr, packet.V5, "qx-pub")
	pub := &packet.Publish{Topic: "qx", QoS: 1, PacketID: 1, Payload: []byte("x")}
	pub.Props.SetUint(packet.PropMessageExpiry, 100)
	p.publish(pub)
	srv.mu.Lock()
	ss := srv.sessions["qx"]
	srv.mu.Unlock()
	ss.mu.Lock()
	for _, sm := range ss.queue {
		sm.Msg.Expires = sm.Msg.Expires.Add(-60 * time.Second) // as if queued for a minute
	}
	ss.mu.Unlock()
	c, _ = persistent(t, addr, packet.V5, "qx")
	got := recvAs[*packet.Publish](c)
	if e := got.Props.MessageExpiry; !got.Props.Has(packet.PropMessageExpiry) || e > 40 || e < 38 {
		t.Errorf("Message Expiry Interval = %d (present %v), want about 40", e, got.Props.Has(packet.PropMessageExpiry))
	}
}

// TestSharedNoLocal checks that No Local on a shared subscription is a
// Protocol Error [MQTT-3.8.3-4].
func TestSharedNoLocal(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := connected(t, addr, packet.V5, "share-nl")
	// SUBSCRIBE id 1, no properties, "$share/g/t" with options No Local|QoS 1.
	c.sendRaw([]byte{0x82, 16, 0, 1, 0, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', 0x05})
	got := c.closed()
	if len(got) != 1 {
		t.Fatalf("got %v, want DISCONNECT 0x82", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ProtocolError {
		t.Errorf("got %+v, want DISCONNECT 0x82", got[0])
	}
}

// TestV3RetainFlag checks the retain flag a 3.1.1 subscriber sees: 0 on
// normal delivery even when the publisher set it, 1 on a retained message
// sent because of a new subscription [MQTT-3.3.1-9].
func TestV3RetainFlag(t *testing.T) {
	addr, _ := startServer(t, Options{})
	live := connected(t, addr, packet.V311, "rf-live")
	live.subscribe(1, sub("rf", 1))
	p := connected(t, addr, packet.V311, "rf-pub")
	p.publish(&packet.Publish{Topic: "rf", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")})
	if got := recvAs[*packet.Publish](live); got.Retain {
		t.Errorf("normal delivery has retain set, want 0")
	}
	late := connected(t, addr, packet.V311, "rf-late")
	late.subscribe(1, sub("rf", 1))
	if got := recvAs[*packet.Publish](late); !got.Retain {
		t.Errorf("retained delivery on subscribe has retain 0, want 1")
	}
}

// TestWillDelaySessionEnd checks that a delayed will is published when the
// session ends before the Will Delay Interval passes [MQTT-3.1.3-9]: at
// session expiry, at once for a session expiry of 0, and when a Clean
// Start connection takes over.
func TestWillDelaySessionEnd(t *testing.T) {
	addr, _ := startServer(t, Options{})
	watcher := connected(t, addr, packet.V5, "wse-watch")
	watcher.subscribe(1, sub("will/#", 0))
	tests := []struct {
		name   string
		expiry uint32
		end    func(t *testing.T, c *tc, id string)
		within time.Duration
	}{
		{"session expires first", 1, func(t *testing.T, c *tc, id string) { c.nc.Close() }, 3 * time.Second},
		{"session expiry 0", 0, func(t *testing.T, c *tc, id string) { c.nc.Close() }, time.Second},
		{"clean start takeover", 60, func(t *testing.T, c *tc, id string) {
			connected(t, addr, packet.V5, id)
		}, time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "wse" + string(rune('a'+i))
			c := dial(t, addr, packet.V5)
			cp := willConnect(id, packet.V5, 0)
			cp.CleanStart = false
			cp.Props.SetUint(packet.PropSessionExpiry, uint64(tt.expiry))
			cp.Will.Props.SetUint(packet.PropWillDelay, 60)
			c.connect(cp)
			start := time.Now()
			tt.end(t, c, id)
			got := recvAs[*packet.Publish](watcher.in(t))
			if d := time.Since(start); got.Topic != "will/"+id || d > tt.within {
				t.Errorf("will %q after %v, want will/%s within %v", got.Topic, d, id, tt.within)
			}
		})
	}
}

// TestWillMessageExpiry checks that a will's Message Expiry Interval runs
// from when the will is published, after its Will Delay Interval, not from
// when the connection ended (MQTT 5.0 section 3.1.3.2.4).
func TestWillMessageExpiry(t *testing.T) {
	addr, _ := startServer(t, Options{})
	watcher := connected(t, addr, packet.V5, "wx-watch")
	watcher.subscribe(1, sub("will/#", 1))
	c := dial(t, addr, packet.V5)
	cp := willConnect("wx", packet.V5, 0)
	cp.CleanStart = false
	cp.Props.SetUint(packet.PropSessionExpiry, 60)
	cp.Will.Props.SetUint(packet.PropWillDelay, 1)
	cp.Will.Props.SetUint(packet.PropMessageExpiry, 1)
	c.connect(cp)
	c.nc.Close()
	got := recvAs[*packet.Publish](watcher)
	if got.Topic != "will/wx" || got.Props.MessageExpiry != 1 {
		t.Errorf("will %q with Message Expiry %d, want will/wx with 1", got.Topic, got.Props.MessageExpiry)
	}
}

// TestInboundQoS2AcrossReconnect checks exactly-once delivery of a QoS 2
// message whose flow spans two connections of a persistent session: the
// PUBLISH re-sent with DUP is acknowledged, not delivered again, and the
// PUBREL on the new connection completes it [MQTT-4.3.3-9] [MQTT-4.4.0-1].
func TestInboundQoS2AcrossReconnect(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			topic := "q2r/" + v.String()
			s := connected(t, addr, v, "q2r-sub-"+v.String())
			s.subscribe(1, sub(topic, 2))
			id := "q2r-pub-" + v.String()
			p, _ := persistent(t, addr, v, id)
			pub := &packet.Publish{Topic: topic, QoS: 2, PacketID: 5, Payload: []byte("once")}
			p.send(pub)
			recvAs[*packet.Pubrec](p)
			p.nc.Close()

			p, ack := persistent(t, addr, v, id)
			if !ack.SessionPresent {
				t.Fatalf("CONNACK session present = false, want true")
			}
			pub.Dup = true
			p.send(pub)
			recvAs[*packet.Pubrec](p)
			p.send(&packet.Pubrel{PacketID: 5})
			if comp := recvAs[*packet.Pubcomp](p); comp.ReasonCode != packet.Success {
				t.Errorf("PUBCOMP reason = %v, want success", comp.ReasonCode)
			}
			n := 0
			for _, pk := range s.sync() {
				if pk, ok := pk.(*packet.Publish); ok {
					n++
					s.send(&packet.Pubrec{PacketID: pk.PacketID})
				}
			}
			if n != 1 {
				t.Errorf("subscriber got %d deliveries, want exactly 1", n)
			}
		})
	}
}

// TestTakeoverOfCleanSession checks that a session that lasts only as
// long as its network connection (3.1.1 Clean Session 1, v5 Session
// Expiry 0) ends when a new connection takes its client id over, even one
// asking to resume: Session Present is 0 and the old subscriptions are
// gone [MQTT-3.1.2-6] [MQTT-3.2.2-2].
func TestTakeoverOfCleanSession(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "tcs-" + v.String()
			topic := "tcs/" + v.String()
			old := connected(t, addr, v, id)
			old.subscribe(1, sub(topic, 1))
			c, ack := persistent(t, addr, v, id)
			if ack.SessionPresent {
				t.Errorf("CONNACK session present = true, want false (the old session ended with its connection)")
			}
			old.closed()
			p := connected(t, addr, v, id+"-pub")
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("x")})
			if got := c.sync(); len(got) != 0 {
				t.Errorf("got %v, want nothing: the old session's subscription went with it", got)
			}
		})
	}
}

// TestOrderedTopic checks that messages from one publisher on one topic
// reach a subscriber in the order published, through the inflight window,
// the queue and a reconnect in between [MQTT-4.6.0-5] [MQTT-4.6.0-6].
func TestOrderedTopic(t *testing.T) {
	addr, _ := startServer(t, Options{})
	connect := func() *tc {
		c := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "order-sub"}
		cp.Props.SetUint(packet.PropSessionExpiry, 60)
		cp.Props.SetUint(packet.PropReceiveMaximum, 5)
		c.connect(cp)
		return c
	}
	s := connect()
	s.subscribe(1, sub("order", 2))
	p := connected(t, addr, packet.V5, "order-pub")
	const n = 200
	for i := range n {
		p.publish(&packet.Publish{Topic: "order", QoS: packet.QoS(1 + i%2), PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(i))})
	}
	next := 0
	take := func(c *tc, upTo int) {
		t.Helper()
		for next < upTo {
			switch pk := c.recv().(type) {
			case *packet.Publish:
				got, _ := strconv.Atoi(string(pk.Payload))
				switch {
				case got == next:
					next++
				case pk.Dup && got < next:
					// Re-sent after the reconnect, seen before it.
				default:
					t.Fatalf("delivery %d has payload %s (dup %v), want %d", next, pk.Payload, pk.Dup, next)
				}
				if pk.QoS == packet.AtLeastOnce {
					c.send(&packet.Puback{PacketID: pk.PacketID})
				} else {
					c.send(&packet.Pubrec{PacketID: pk.PacketID})
				}
			case *packet.Pubrel:
				c.send(&packet.Pubcomp{PacketID: pk.PacketID})
			}
		}
	}
	take(s, n/2)
	s.nc.Close()
	take(connect(), n)
}

// gateAuth holds the first publish authorization until release is closed.
type gateAuth struct {
	AllowAll
	first   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (a *gateAuth) Authorize(_ context.Context, _ Client, acc Access, _ string) bool {
	if acc == AccessPublish && a.first.CompareAndSwap(false, true) {
		close(a.held)
		<-a.release
	}
	return true
}

// TestInboundQoS2Takeover: a QoS 2 PUBLISH still being handled by a
// connection that is taken over, and re-sent with DUP on the new
// connection, is delivered once [MQTT-4.3.3-9].
func TestInboundQoS2Takeover(t *testing.T) {
	auth := &gateAuth{held: make(chan struct{}), release: make(chan struct{})}
	addr, _ := startServer(t, Options{Auth: auth})
	s := connected(t, addr, packet.V311, "q2t-sub")
	s.subscribe(1, sub("q2t", 2))
	old, _ := persistent(t, addr, packet.V311, "q2t-pub")
	pub := &packet.Publish{Topic: "q2t", QoS: 2, PacketID: 3, Payload: []byte("once")}
	old.send(pub)
	select {
	case <-auth.held:
	case <-time.After(testTimeout):
		close(auth.release)
		t.Fatal("the first PUBLISH never reached authorization")
	}
	c, _ := persistent(t, addr, packet.V311, "q2t-pub")
	pub.Dup = true
	c.send(pub)
	recvAs[*packet.Pubrec](c)
	close(auth.release)
	c.send(&packet.Pubrel{PacketID: 3})
	recvAs[*packet.Pubcomp](c)
	waitFor(t, "the old connection to finish", func() bool { return old.closedNow() })
	n := 0
	for _, pk := range s.sync() {
		if pk, ok := pk.(*packet.Publish); ok {
			n++
			s.send(&packet.Pubrec{PacketID: pk.PacketID})
		}
	}
	if n != 1 {
		t.Errorf("subscriber got %d deliveries, want 1", n)
	}
}

// TestRequestProblemInformationZero checks that a client that set Request
// Problem Information to 0 gets no Reason String or User Property on
// acknowledgements, refusals included [MQTT-3.1.2-29].
func TestRequestProblemInformationZero(t *testing.T) {
	addr, _ := startServer(t, Options{Auth: testAuth{}})
	c := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "rpi0", CleanStart: true}
	cp.Props.SetUint(packet.PropRequestProblemInfo, 0)
	c.connect(cp)
	check := func(what string, pr *packet.Properties) {
		t.Helper()
		if pr.Has(packet.PropReasonString) || pr.Has(packet.PropUser) {
			t.Errorf("%s has reason string %q or user properties %v, want neither", what, pr.ReasonString, pr.User)
		}
	}
	ack := c.subscribe(1, sub("secret/x", 1), sub("ok/x", 1))
	check("SUBACK", &ack.Props)
	c.send(&packet.Publish{Topic: "secret/x", QoS: 1, PacketID: 2, Payload: []byte("x")})
	pa := recvAs[*packet.Puback](c)
	check("PUBACK", &pa.Props)
	c.send(&packet.Publish{Topic: "secret/x", QoS: 2, PacketID: 3, Payload: []byte("x")})
	pr := recvAs[*packet.Pubrec](c)
	check("PUBREC", &pr.Props)
	c.send(&packet.Pubrel{PacketID: 99})
	pc := recvAs[*packet.Pubcomp](c)
	check("PUBCOMP", &pc.Props)
	c.send(&packet.Unsubscribe{PacketID: 4, Filters: []string{"none"}})
	ua := recvAs[*packet.Unsuback](c)
	check("UNSUBACK", &ua.Props)
}

// TestTopicAliasWithinMaximumPacketSize: a message that fits the client's
// Maximum Packet Size only without a Topic Alias property is sent without
// one, never above the limit [MQTT-3.1.2-24].
func TestTopicAliasWithinMaximumPacketSize(t *testing.T) {
	addr, _ := startServer(t, Options{})
	want := &packet.Publish{Topic: "tamps/x", Payload: []byte("exactly fits")}
	limit, err := packet.Size(want, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	s := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "tamps", CleanStart: true}
	cp.Props.SetUint(packet.PropTopicAliasMaximum, 5)
	cp.Props.SetUint(packet.PropMaximumPacketSize, uint64(limit))
	s.connect(cp)
	s.subscribe(1, sub("tamps/x", 0))
	p := connected(t, addr, packet.V5, "tamps-pub")
	p.publish(&packet.Publish{Topic: want.Topic, QoS: 1, PacketID: 1, Payload: want.Payload})
	got := recvAs[*packet.Publish](s)
	if n, _ := packet.Size(got, packet.V5); n > limit {
		t.Errorf("PUBLISH is %d bytes (topic alias %d), want at most the client's maximum %d", n, got.Props.TopicAlias, limit)
	}
}
