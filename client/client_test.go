package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mqtool/mqtool/packet"
)

func TestConnectRefused(t *testing.T) {
	tests := []struct {
		name     string
		version  packet.Version
		rc       packet.ReasonCode
		wantCode int
		wantMsg  string
	}{
		{"v3 protocol version", packet.V311, packet.UnsupportedProtocolVersion, 1, "unsupported protocol version"},
		{"v3 identifier", packet.V311, packet.ClientIdentifierNotValid, 2, "client identifier not valid"},
		{"v3 unavailable", packet.V311, packet.ServerUnavailable, 3, "server unavailable"},
		{"v3 bad credentials", packet.V311, packet.BadUserNameOrPassword, 4, "bad user name or password"},
		{"v3 not authorized", packet.V311, packet.NotAuthorized, 5, "not authorized"},
		{"v31 not authorized", packet.V31, packet.NotAuthorized, 5, "not authorized"},
		{"v5 bad credentials", packet.V5, packet.BadUserNameOrPassword, 134, "bad user name or password"},
		{"v5 not authorized", packet.V5, packet.NotAuthorized, 135, "not authorized"},
		{"v5 banned", packet.V5, packet.Banned, 138, "banned"},
		{"v5 packet too large", packet.V5, packet.PacketTooLarge, 149, "packet too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(&packet.Connack{ReasonCode: tt.rc})
			})
			c, err := Dial(context.Background(), Options{URL: s.url, Version: tt.version, ClientID: "x"})
			if err == nil {
				c.Close()
				t.Fatalf("Dial succeeded, want refusal %v", tt.rc)
			}
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Dial error %v (%T), want *ConnectError", err, err)
			}
			if ce.Code() != tt.wantCode {
				t.Errorf("Code() = %d, want %d", ce.Code(), tt.wantCode)
			}
			if want := "client: connection refused: " + tt.wantMsg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
			if !errors.Is(err, tt.rc) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.rc)
			}
		})
	}
}

// TestSessionPresent checks that a CONNACK claiming a session after Clean
// Start 1 ends the connection [MQTT-3.2.2-4] (the server must not send it
// [MQTT-3.2.2-2]), so that nobody trusts subscriptions that were never made,
// and that a claimed session after Clean Start 0 is reported.
func TestSessionPresent(t *testing.T) {
	tests := []struct {
		name       string
		version    packet.Version
		cleanStart bool
		present    bool
		wantErr    bool
		wantSeen   []string // what the server reads after CONNACK
	}{
		{"3.1.1 clean session, session present", packet.V311, true, true, true, nil},
		{"5.0 clean start, session present", packet.V5, true, true, true, []string{"DISCONNECT protocol error"}},
		{"3.1.1 clean session, no session", packet.V311, true, false, false, nil},
		{"3.1.1 persistent, session present", packet.V311, false, true, false, nil},
		{"5.0 clean start, no session", packet.V5, true, false, false, nil},
		{"5.0 no clean start, session present", packet.V5, false, true, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan []string, 1)
			s := startFake(t, func(f *fakeConn) {
				f.accept(&packet.Connack{SessionPresent: tt.present})
				var got []string
				defer func() { seen <- got }()
				for {
					p, err := f.readWithin(fakeTimeout)
					if err != nil {
						return
					}
					got = append(got, p.Type().String())
					if d, ok := p.(*packet.Disconnect); ok {
						got[len(got)-1] += " " + d.ReasonCode.String()
					}
				}
			})
			c, err := Dial(context.Background(), Options{URL: s.url, Version: tt.version, ClientID: "x", CleanStart: tt.cleanStart})
			if err == nil {
				if !tt.wantErr && c.Connack().SessionPresent != tt.present {
					t.Errorf("Connack().SessionPresent = %v, want %v", c.Connack().SessionPresent, tt.present)
				}
				c.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Dial = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, packet.ProtocolError) || !strings.HasPrefix(err.Error(), "client: ")) {
				t.Errorf("Dial = %q, want a \"client: \" error wrapping %v", err, packet.ProtocolError)
			}
			select {
			case got := <-seen:
				if diff := cmp.Diff(tt.wantSeen, got); diff != "" {
					t.Errorf("server read after CONNACK (-want +got):\n%s", diff)
				}
			case <-time.After(2 * fakeTimeout):
				t.Fatal("the fake server did not see the connection end")
			}
		})
	}
}

func TestConnectCarriesOptions(t *testing.T) {
	got := make(chan *packet.Connect, 1)
	s := startFake(t, func(f *fakeConn) {
		got <- f.accept(nil)
		expect[*packet.Disconnect](f)
	})
	var props packet.Properties
	props.SetUint(packet.PropSessionExpiry, 60)
	props.SetUint(packet.PropReceiveMaximum, 10)
	props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	will := &packet.Will{Topic: "will/t", Payload: []byte("gone"), QoS: 1, Retain: true}
	will.Props.SetUint(packet.PropWillDelay, 5)
	c := dial(t, s, Options{
		Version: packet.V5, ClientID: "id1", CleanStart: true, KeepAlive: 30,
		Username: "u", Password: []byte("p"), Will: will, ConnectProps: props,
	})
	cp := <-got
	if cp == nil {
		t.Fatal("no CONNECT")
	}
	if cp.Version != packet.V5 || cp.ClientID != "id1" || !cp.CleanStart || cp.KeepAlive != 30 ||
		cp.Username != "u" || string(cp.Password) != "p" {
		t.Errorf("CONNECT = %+v, want v5 id1 clean keepalive 30 u/p", cp)
	}
	if cp.Will == nil || cp.Will.Topic != "will/t" || string(cp.Will.Payload) != "gone" || cp.Will.QoS != 1 ||
		!cp.Will.Retain || cp.Will.Props.WillDelay != 5 {
		t.Errorf("CONNECT will = %+v, want will/t gone qos 1 retain delay 5", cp.Will)
	}
	if !cp.Props.Equal(props) {
		t.Errorf("CONNECT props = %+v, want %+v", cp.Props, props)
	}
	if err := c.Disconnect(context.Background(), nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
	if c.Err() != nil {
		t.Errorf("Err() after Disconnect = %v, want nil", c.Err())
	}
}

func TestUsernameSetEmpty(t *testing.T) {
	got := make(chan *packet.Connect, 1)
	s := startFake(t, func(f *fakeConn) { got <- f.accept(nil) })
	c := dial(t, s, Options{ClientID: "x", UsernameSet: true, PasswordSet: true})
	cp := <-got
	if cp == nil || !cp.UsernameFlag || !cp.PasswordFlag {
		t.Errorf("CONNECT = %+v, want user name and password flags", cp)
	}
	c.Close()
}

func TestPublishFlows(t *testing.T) {
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		for _, qos := range []packet.QoS{0, 1, 2} {
			t.Run(fmt.Sprintf("%s/qos%d", v, qos), func(t *testing.T) {
				got := make(chan *packet.Publish, 1)
				s := startFake(t, func(f *fakeConn) {
					f.accept(nil)
					p := expect[*packet.Publish](f)
					got <- p
					if p == nil {
						return
					}
					switch p.QoS {
					case 1:
						f.write(&packet.Puback{PacketID: p.PacketID})
					case 2:
						f.write(&packet.Pubrec{PacketID: p.PacketID})
						if rel := expect[*packet.Pubrel](f); rel != nil && rel.PacketID != p.PacketID {
							t.Errorf("PUBREL id %d, want %d", rel.PacketID, p.PacketID)
						}
						f.write(&packet.Pubcomp{PacketID: p.PacketID})
					}
					expect[*packet.Disconnect](f)
				})
				c := dial(t, s, Options{Version: v, ClientID: "x"})
				err := c.Publish(context.Background(), &packet.Publish{Topic: "a/b", QoS: qos, Retain: true, Payload: []byte("hi")})
				if err != nil {
					t.Fatalf("Publish = %v", err)
				}
				p := <-got
				if p == nil || p.Topic != "a/b" || p.QoS != qos || !p.Retain || string(p.Payload) != "hi" {
					t.Errorf("server got %+v, want a/b qos %d retain hi", p, qos)
				}
				if qos > 0 && p != nil && p.PacketID == 0 {
					t.Errorf("packet id 0 at QoS %d", qos)
				}
				if err := c.Disconnect(context.Background(), nil); err != nil {
					t.Errorf("Disconnect = %v", err)
				}
			})
		}
	}
}

func TestPublishFailureReason(t *testing.T) {
	tests := []struct {
		name string
		qos  packet.QoS
		rc   packet.ReasonCode
	}{
		{"puback not authorized", 1, packet.NotAuthorized},
		{"pubrec quota exceeded", 2, packet.QuotaExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(nil)
				p := expect[*packet.Publish](f)
				if p == nil {
					return
				}
				if p.QoS == 1 {
					f.write(&packet.Puback{PacketID: p.PacketID, ReasonCode: tt.rc})
				} else {
					f.write(&packet.Pubrec{PacketID: p.PacketID, ReasonCode: tt.rc})
				}
				// A failed PUBREC ends the flow: the next packet is DISCONNECT, not PUBREL.
				expect[*packet.Disconnect](f)
			})
			c := dial(t, s, Options{Version: packet.V5})
			err := c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: tt.qos})
			if !errors.Is(err, tt.rc) {
				t.Errorf("Publish = %v, want error wrapping %v", err, tt.rc)
			}
			c.Disconnect(context.Background(), nil)
		})
	}
}

func TestServerLimits(t *testing.T) {
	var ca packet.Connack
	ca.Props.SetUint(packet.PropMaximumQoS, 1)
	ca.Props.SetUint(packet.PropRetainAvailable, 0)
	ca.Props.SetUint(packet.PropMaximumPacketSize, 64)
	ca.Props.SetUint(packet.PropReceiveMaximum, 7)
	ca.Props.SetUint(packet.PropServerKeepAlive, 120)
	ca.Props.SetString(packet.PropAssignedClientID, "auto-1")
	s := startFake(t, func(f *fakeConn) {
		f.accept(&ca)
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{Version: packet.V5, KeepAlive: 10})
	tests := []struct {
		name string
		p    *packet.Publish
		want error
	}{
		{"qos above maximum", &packet.Publish{Topic: "t", QoS: 2}, packet.QoSNotSupported},
		{"retain unavailable", &packet.Publish{Topic: "t", Retain: true}, packet.RetainNotSupported},
		{"packet too large", &packet.Publish{Topic: "t", Payload: make([]byte, 100)}, packet.PacketTooLarge},
	}
	for _, tt := range tests {
		if err := c.Publish(context.Background(), tt.p); !errors.Is(err, tt.want) {
			t.Errorf("%s: Publish = %v, want %v", tt.name, err, tt.want)
		}
	}
	if c.MaxInflight() != 7 {
		t.Errorf("MaxInflight() = %d, want 7 (server's Receive Maximum)", c.MaxInflight())
	}
	if c.KeepAlive() != 120*time.Second {
		t.Errorf("KeepAlive() = %v, want 2m0s (Server Keep Alive)", c.KeepAlive())
	}
	if c.ClientID() != "auto-1" {
		t.Errorf("ClientID() = %q, want assigned auto-1", c.ClientID())
	}
	if err := c.Disconnect(context.Background(), nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
}

func TestInboundQoS2Dedupe(t *testing.T) {
	msgs := make(chan string, 10)
	flowDone := make(chan struct{})
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		pub := &packet.Publish{Topic: "q2", QoS: 2, PacketID: 7, Payload: []byte("once")}
		f.write(pub)
		if r := expect[*packet.Pubrec](f); r == nil || r.PacketID != 7 {
			t.Errorf("first PUBREC = %+v, want id 7", r)
		}
		pub.Dup = true
		f.write(pub)
		if r := expect[*packet.Pubrec](f); r == nil || r.PacketID != 7 {
			t.Errorf("PUBREC for resend = %+v, want id 7", r)
		}
		f.write(&packet.Pubrel{PacketID: 7})
		if r := expect[*packet.Pubcomp](f); r == nil || r.PacketID != 7 {
			t.Errorf("PUBCOMP = %+v, want id 7", r)
		}
		// A resent PUBREL is answered too [MQTT-4.3.3-11].
		f.write(&packet.Pubrel{PacketID: 7})
		if r := expect[*packet.Pubcomp](f); r == nil || r.PacketID != 7 {
			t.Errorf("PUBCOMP for resent PUBREL = %+v, want id 7", r)
		}
		// After PUBCOMP the id is free: the same id is a new message.
		pub = &packet.Publish{Topic: "q2", QoS: 2, PacketID: 7, Payload: []byte("again")}
		f.write(pub)
		expect[*packet.Pubrec](f)
		f.write(&packet.Pubrel{PacketID: 7})
		expect[*packet.Pubcomp](f)
		close(flowDone)
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{OnMessage: func(p *packet.Publish) { msgs <- string(p.Payload) }})
	for _, want := range []string{"once", "again"} {
		select {
		case got := <-msgs:
			if got != want {
				t.Errorf("OnMessage got %q, want %q", got, want)
			}
		case <-time.After(fakeTimeout):
			t.Fatalf("no message %q", want)
		}
	}
	<-flowDone
	if err := c.Disconnect(context.Background(), nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
	close(msgs)
	for m := range msgs {
		t.Errorf("extra message %q delivered", m)
	}
}

func TestInboundQoS1AckAfterOnMessage(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Bool
	acked := make(chan struct{})
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		f.write(&packet.Publish{Topic: "q1", QoS: 1, PacketID: 3})
		<-entered
		if p, err := f.readWithin(100 * time.Millisecond); !isTimeout(err) {
			t.Errorf("got %v %v while OnMessage runs, want nothing", p, err)
		}
		close(release)
		if a := expect[*packet.Puback](f); a == nil || a.PacketID != 3 {
			t.Errorf("PUBACK = %+v, want id 3", a)
		}
		if !returned.Load() {
			t.Error("PUBACK sent before OnMessage returned")
		}
		close(acked)
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{OnMessage: func(p *packet.Publish) {
		close(entered)
		<-release
		returned.Store(true)
	}})
	select {
	case <-release:
	case <-time.After(fakeTimeout):
		t.Fatal("OnMessage not called")
	}
	<-acked
	c.Disconnect(context.Background(), nil)
}

func TestInflightWindow(t *testing.T) {
	tests := []struct {
		name        string
		maxInflight int
		receiveMax  uint16
		want        int
	}{
		{"MaxInflight", 3, 0, 3},
		{"server Receive Maximum", 10, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const total = 8
			var ca packet.Connack
			if tt.receiveMax > 0 {
				ca.Props.SetUint(packet.PropReceiveMaximum, uint64(tt.receiveMax))
			}
			s := startFake(t, func(f *fakeConn) {
				f.accept(&ca)
				// Take a window of publishes, check that no more arrives
				// unacknowledged, then ack them all; again until the end.
				for received := 0; received < total; {
					burst := min(tt.want, total-received)
					ids := make([]uint16, 0, burst)
					for range burst {
						p, err := f.readWithin(5 * time.Second)
						if err != nil {
							t.Errorf("after %d publishes: read: %v", received, err)
							return
						}
						pub, ok := p.(*packet.Publish)
						if !ok {
							t.Errorf("got %s, want PUBLISH", p.Type())
							return
						}
						ids = append(ids, pub.PacketID)
						received++
					}
					if p, err := f.readWithin(100 * time.Millisecond); err == nil {
						t.Errorf("%s with %d publishes unacknowledged, window %d", p.Type(), len(ids), tt.want)
						return
					} else if !isTimeout(err) {
						t.Errorf("read: %v", err)
						return
					}
					for _, id := range ids {
						f.write(&packet.Puback{PacketID: id})
					}
				}
				expect[*packet.Disconnect](f)
			})
			c := dial(t, s, Options{Version: packet.V5, MaxInflight: tt.maxInflight})
			var wg sync.WaitGroup
			var acked atomic.Int32
			for i := range total {
				wg.Add(1)
				err := c.PublishAsync(context.Background(), &packet.Publish{Topic: "w", QoS: 1, Payload: []byte{byte(i)}}, func(err error) {
					if err != nil {
						t.Errorf("done(%v)", err)
					}
					acked.Add(1)
					wg.Done()
				})
				if err != nil {
					t.Fatalf("PublishAsync %d = %v", i, err)
				}
			}
			wg.Wait()
			if acked.Load() != total {
				t.Errorf("%d acked, want %d", acked.Load(), total)
			}
			c.Disconnect(context.Background(), nil)
		})
	}
}

func TestKeepAlive(t *testing.T) {
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		start := time.Now()
		expect[*packet.Pingreq](f)
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("PINGREQ after %v, want about 1s", d)
		}
		f.write(&packet.Pingresp{})
		expect[*packet.Pingreq](f)
		// No PINGRESP this time: the client must give up.
		if p, err := f.readWithin(fakeTimeout); err == nil {
			t.Errorf("got %v, want the client to close", p)
		}
	})
	c := dial(t, s, Options{KeepAlive: 1})
	waitDone(t, c)
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "PINGRESP") {
		t.Errorf("Err() = %v, want no PINGRESP error", err)
	}
}

func TestTopicAliasOutbound(t *testing.T) {
	got := make(chan *packet.Publish, 10)
	var ca packet.Connack
	ca.Props.SetUint(packet.PropTopicAliasMaximum, 5)
	s := startFake(t, func(f *fakeConn) {
		f.accept(&ca)
		for range 5 {
			p := expect[*packet.Publish](f)
			got <- p
			if p == nil {
				return
			}
			f.write(&packet.Puback{PacketID: p.PacketID})
		}
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{Version: packet.V5})
	send := func(topic string, alias uint16) {
		p := &packet.Publish{Topic: topic, QoS: 1}
		p.Props.SetUint(packet.PropTopicAlias, uint64(alias))
		if err := c.Publish(context.Background(), p); err != nil {
			t.Fatalf("Publish = %v", err)
		}
		if p.Topic != topic || p.Props.TopicAlias != alias || !p.Props.Has(packet.PropTopicAlias) {
			t.Errorf("Publish changed the caller's packet: %+v", p)
		}
	}
	send("long/topic", 1)
	send("long/topic", 1)
	send("long/topic", 1)
	send("other", 1) // rebinds alias 1
	send("big", 9)   // above the server's maximum: sent plainly
	wants := []struct {
		topic    string
		alias    uint16
		hasAlias bool
	}{{"long/topic", 1, true}, {"", 1, true}, {"", 1, true}, {"other", 1, true}, {"big", 0, false}}
	for i, w := range wants {
		p := <-got
		if p == nil {
			t.Fatal("server read failed")
		}
		if p.Topic != w.topic || p.Props.Has(packet.PropTopicAlias) != w.hasAlias || p.Props.TopicAlias != w.alias {
			t.Errorf("publish %d: topic %q alias %v/%d, want %q %v/%d", i, p.Topic,
				p.Props.Has(packet.PropTopicAlias), p.Props.TopicAlias, w.topic, w.hasAlias, w.alias)
		}
	}
	c.Disconnect(context.Background(), nil)
}

func TestTopicAliasInbound(t *testing.T) {
	topics := make(chan string, 10)
	s := startFake(t, func(f *fakeConn) {
		cp := f.accept(nil)
		if cp != nil && cp.Props.TopicAliasMaximum != 4 {
			t.Errorf("CONNECT topic alias maximum %d, want 4", cp.Props.TopicAliasMaximum)
		}
		p := &packet.Publish{Topic: "a/b"}
		p.Props.SetUint(packet.PropTopicAlias, 2)
		f.write(p)
		p.Topic = ""
		f.write(p)
		// An alias above our maximum is a protocol error [MQTT-3.3.2-9].
		p.Props.TopicAlias = 5
		f.write(p)
		if d := expect[*packet.Disconnect](f); d != nil && d.ReasonCode != packet.TopicAliasInvalid {
			t.Errorf("DISCONNECT %v, want topic alias invalid", d.ReasonCode)
		}
	})
	var props packet.Properties
	props.SetUint(packet.PropTopicAliasMaximum, 4)
	c := dial(t, s, Options{Version: packet.V5, ConnectProps: props, OnMessage: func(p *packet.Publish) { topics <- p.Topic }})
	waitDone(t, c)
	close(topics)
	var got []string
	for tp := range topics {
		got = append(got, tp)
	}
	if strings.Join(got, ",") != "a/b,a/b" {
		t.Errorf("OnMessage topics %q, want [a/b a/b]", got)
	}
	if !errors.Is(c.Err(), packet.TopicAliasInvalid) {
		t.Errorf("Err() = %v, want topic alias invalid", c.Err())
	}
}

func TestServerDisconnect(t *testing.T) {
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		d := &packet.Disconnect{ReasonCode: packet.ServerShuttingDown}
		d.Props.SetString(packet.PropReasonString, "bye")
		f.write(d)
	})
	got := make(chan *packet.Disconnect, 1)
	c := dial(t, s, Options{Version: packet.V5, OnDisconnect: func(d *packet.Disconnect) { got <- d }})
	waitDone(t, c)
	if !errors.Is(c.Err(), packet.ServerShuttingDown) {
		t.Errorf("Err() = %v, want server shutting down", c.Err())
	}
	select {
	case d := <-got:
		if d.Props.ReasonString != "bye" {
			t.Errorf("OnDisconnect reason string %q, want bye", d.Props.ReasonString)
		}
	default:
		t.Error("OnDisconnect not called")
	}
}

func TestBrokenConnection(t *testing.T) {
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		expect[*packet.Publish](f)
		// Close without acknowledging.
	})
	c := dial(t, s, Options{})
	doneClosed := make(chan bool, 1)
	err := c.PublishAsync(context.Background(), &packet.Publish{Topic: "t", QoS: 1}, func(err error) {
		select {
		case <-c.Done():
			doneClosed <- err != nil
		default:
			doneClosed <- false
		}
	})
	if err != nil {
		t.Fatalf("PublishAsync = %v", err)
	}
	err = c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 1})
	if err == nil {
		t.Fatal("Publish succeeded on a broken connection")
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed when Publish failed for the broken connection")
	}
	if !<-doneClosed {
		t.Error("PublishAsync done: want an error with Done closed")
	}
	if c.Err() == nil {
		t.Error("Err() = nil after the server closed the connection")
	}
	if err := c.Publish(context.Background(), &packet.Publish{Topic: "t"}); err == nil {
		t.Error("Publish after the end succeeded")
	}
	if _, err := c.Subscribe(context.Background(), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "x"}}}); err == nil {
		t.Error("Subscribe after the end succeeded")
	}
}

func TestSubscribeUnsubscribe(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(nil)
				sub := expect[*packet.Subscribe](f)
				if sub == nil {
					return
				}
				if len(sub.Subscriptions) != 2 || sub.Subscriptions[0].Filter != "a/#" || sub.Subscriptions[1].QoS != 2 {
					t.Errorf("SUBSCRIBE = %+v", sub)
				}
				f.write(&packet.Suback{PacketID: sub.PacketID, ReasonCodes: []packet.ReasonCode{0, packet.NotAuthorized}})
				f.write(&packet.Publish{Topic: "a/x", Payload: []byte("m")})
				un := expect[*packet.Unsubscribe](f)
				if un == nil {
					return
				}
				f.write(&packet.Unsuback{PacketID: un.PacketID, ReasonCodes: []packet.ReasonCode{0}})
				expect[*packet.Disconnect](f)
			})
			msgs := make(chan string, 1)
			c := dial(t, s, Options{Version: v, OnMessage: func(p *packet.Publish) { msgs <- p.Topic + " " + string(p.Payload) }})
			ack, err := c.Subscribe(context.Background(), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a/#"}, {Filter: "b", QoS: 2}}})
			if err != nil {
				t.Fatalf("Subscribe = %v", err)
			}
			if len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != 0 || !ack.ReasonCodes[1].IsError() {
				t.Errorf("SUBACK codes %v, want [0 failure]", ack.ReasonCodes)
			}
			if m := <-msgs; m != "a/x m" {
				t.Errorf("message %q, want %q", m, "a/x m")
			}
			if _, err := c.Unsubscribe(context.Background(), &packet.Unsubscribe{Filters: []string{"a/#"}}); err != nil {
				t.Errorf("Unsubscribe = %v", err)
			}
			if err := c.Disconnect(context.Background(), nil); err != nil {
				t.Errorf("Disconnect = %v", err)
			}
		})
	}
}

func TestDisconnectReason(t *testing.T) {
	got := make(chan *packet.Disconnect, 1)
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		got <- expect[*packet.Disconnect](f)
		if _, err := f.readWithin(fakeTimeout); err == nil {
			t.Error("client sent more after DISCONNECT")
		}
	})
	c := dial(t, s, Options{Version: packet.V5})
	d := &packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage}
	d.Props.SetUint(packet.PropSessionExpiry, 0)
	if err := c.Disconnect(context.Background(), d); err != nil {
		t.Fatalf("Disconnect = %v", err)
	}
	p := <-got
	if p == nil || p.ReasonCode != packet.DisconnectWithWillMessage || !p.Props.Has(packet.PropSessionExpiry) {
		t.Errorf("DISCONNECT = %+v, want reason 0x04 with session expiry", p)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Disconnect returned")
	}
}

func TestContextCancel(t *testing.T) {
	t.Run("Dial", func(t *testing.T) {
		hold := make(chan struct{})
		s := startFake(t, func(f *fakeConn) {
			<-hold // never answer; a loaded machine may not even send CONNECT in time
		})
		defer close(hold)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		start := time.Now()
		c, err := Dial(ctx, Options{URL: s.url})
		if err == nil {
			c.Close()
			t.Fatal("Dial succeeded without CONNACK")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Dial = %v, want context canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Dial returned after %v", d)
		}
	})
	t.Run("cancel while the handshake sets its deadline", func(t *testing.T) {
		// ctx ends just as the handshake applies ConnectTimeout's
		// deadline: the cancellation must win, not the hour-long deadline.
		hold := make(chan struct{})
		release := sync.OnceFunc(func() { close(hold) })
		s := startFake(t, func(f *fakeConn) {
			<-hold // the CONNECT may or may not be sent: no CONNACK either way
		})
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dialer := func(dctx context.Context) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(dctx, "tcp", s.ln.Addr().String())
			if err != nil {
				return nil, err
			}
			return &cancelOnDeadline{Conn: nc, cancel: cancel, set: make(chan struct{}, 1)}, nil
		}
		errc := make(chan error, 1)
		go func() {
			c, err := Dial(ctx, Options{Dialer: dialer, ConnectTimeout: time.Hour})
			if err == nil {
				c.Close()
			}
			errc <- err
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Dial = %v, want context canceled", err)
			}
		case <-time.After(5 * time.Second):
			release() // the fake server closes, so Dial returns
			<-errc
			t.Fatal("Dial still waiting 5s after ctx ended during SetDeadline")
		}
	})
	t.Run("ConnectTimeout", func(t *testing.T) {
		hold := make(chan struct{})
		s := startFake(t, func(f *fakeConn) {
			<-hold
		})
		defer close(hold)
		_, err := Dial(context.Background(), Options{URL: s.url, ConnectTimeout: 100 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial = %v, want deadline exceeded", err)
		}
	})
	t.Run("Publish", func(t *testing.T) {
		hold := make(chan struct{})
		s := startFake(t, func(f *fakeConn) {
			f.accept(nil)
			expect[*packet.Publish](f)
			<-hold // no PUBACK
		})
		defer close(hold)
		c := dial(t, s, Options{MaxInflight: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := c.Publish(ctx, &packet.Publish{Topic: "t", QoS: 1}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish waiting for PUBACK = %v, want deadline exceeded", err)
		}
		// The window is full now: a second publish waits for a slot.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		if err := c.Publish(ctx2, &packet.Publish{Topic: "t", QoS: 1}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish waiting for a slot = %v, want deadline exceeded", err)
		}
		c.Close()
	})
	t.Run("Subscribe", func(t *testing.T) {
		hold := make(chan struct{})
		s := startFake(t, func(f *fakeConn) {
			f.accept(nil)
			expect[*packet.Subscribe](f)
			<-hold // no SUBACK
		})
		defer close(hold)
		c := dial(t, s, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Subscribe(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "x"}}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Subscribe = %v, want deadline exceeded", err)
		}
		c.Close()
	})
}

func TestTrace(t *testing.T) {
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		p := expect[*packet.Publish](f)
		if p != nil {
			f.write(&packet.Puback{PacketID: p.PacketID})
		}
		expect[*packet.Disconnect](f)
	})
	var mu sync.Mutex
	var log bytes.Buffer
	c := dial(t, s, Options{Trace: func(sent bool, p packet.Packet) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&log, "%v %s\n", sent, p.Type())
	}})
	if err := c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	c.Disconnect(context.Background(), nil)
	want := "true CONNECT\nfalse CONNACK\ntrue PUBLISH\nfalse PUBACK\ntrue DISCONNECT\n"
	mu.Lock()
	defer mu.Unlock()
	if log.String() != want {
		t.Errorf("trace:\n%s\nwant:\n%s", log.String(), want)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		wantErr bool
	}{
		{"", Endpoint{TCP, "localhost", "1883", ""}, false},
		{"mqtt://example.com", Endpoint{TCP, "example.com", "1883", ""}, false},
		{"mqtt://127.0.0.1:1999/topic", Endpoint{TCP, "127.0.0.1", "1999", ""}, false},
		{"tcp://[::1]:1884", Endpoint{TCP, "::1", "1884", ""}, false},
		{"mqtts://h", Endpoint{TLS, "h", "8883", ""}, false},
		{"ws://h", Endpoint{WebSocket, "h", "80", "/mqtt"}, false},
		{"wss://h:9001/x", Endpoint{SecureWebSocket, "h", "9001", "/x"}, false},
		{"unix:///tmp/s.sock", Endpoint{Unix, "", "", "/tmp/s.sock"}, false},
		{"http://h", Endpoint{}, true},
		{"unix://", Endpoint{}, true},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCloseFromCallback(t *testing.T) {
	tests := []struct {
		name  string
		close func(c *Client) error
		want  packet.Type // what the server sees after the publish's ack
	}{
		{"Disconnect", func(c *Client) error { return c.Disconnect(context.Background(), nil) }, packet.DISCONNECT},
		{"Close", func(c *Client) error { return c.Close() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(nil)
				f.write(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1})
				f.write(&packet.Publish{Topic: "t", QoS: 1, PacketID: 2})
				if tt.want == packet.DISCONNECT {
					// The message handled when Disconnect was called is acknowledged first.
					if a := expect[*packet.Puback](f); a == nil || a.PacketID != 1 {
						t.Errorf("PUBACK %+v, want id 1 before DISCONNECT", a)
					}
				}
				p, err := f.readWithin(fakeTimeout)
				switch {
				case tt.want == 0 && err == nil:
					t.Errorf("server got %s, want the connection closed", p.Type())
				case tt.want != 0 && (err != nil || p.Type() != tt.want):
					t.Errorf("server got %v %v, want %s", p, err, tt.want)
				}
			})
			var c *Client
			ready := make(chan struct{})
			errs := make(chan error, 2)
			c = dial(t, s, Options{OnMessage: func(p *packet.Publish) {
				<-ready
				errs <- tt.close(c)
			}})
			close(ready)
			waitDone(t, c)
			if err := <-errs; err != nil {
				t.Errorf("%s from OnMessage = %v", tt.name, err)
			}
			if len(errs) != 0 {
				t.Errorf("OnMessage called after %s", tt.name)
			}
			if c.Err() != nil {
				t.Errorf("Err() = %v, want nil", c.Err())
			}
		})
	}
}

func TestHostileServer(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte // sent after CONNACK, then the server closes
		want error
	}{
		{"PUBLISH QoS 3", []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, packet.MalformedPacket},
		{"remaining length of 5 bytes", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, packet.MalformedPacket},
		{"packet type 0", []byte{0x00, 0x00}, packet.MalformedPacket},
		{"second CONNACK", []byte{0x20, 0x02, 0x00, 0x00}, packet.ProtocolError},
		{"SUBSCRIBE from server", []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, packet.ProtocolError},
		{"PUBLISH without topic", []byte{0x30, 0x03, 0x00, 0x00, 'x'}, packet.TopicNameInvalid},
		{"truncated body", []byte{0x30, 0x0A, 0x00, 0x01}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(nil)
				f.c.Write(tt.raw)
				if tt.want != nil {
					f.readWithin(fakeTimeout) // until the client closes
				}
			})
			msgs := 0
			c := dial(t, s, Options{OnMessage: func(*packet.Publish) { msgs++ }})
			waitDone(t, c)
			err := c.Err()
			if err == nil || !strings.HasPrefix(err.Error(), "client: ") {
				t.Fatalf("Err() = %v, want a client: error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Err() = %v, want %v", err, tt.want)
			}
			if msgs != 0 {
				t.Errorf("%d messages delivered", msgs)
			}
		})
	}
	t.Run("acks for unknown ids are ignored", func(t *testing.T) {
		s := startFake(t, func(f *fakeConn) {
			f.accept(nil)
			f.write(&packet.Puback{PacketID: 9})
			f.write(&packet.Pubcomp{PacketID: 9})
			f.write(&packet.Suback{PacketID: 9, ReasonCodes: []packet.ReasonCode{0}})
			p := expect[*packet.Publish](f)
			if p != nil {
				f.write(&packet.Puback{PacketID: p.PacketID})
			}
			expect[*packet.Disconnect](f)
		})
		c := dial(t, s, Options{})
		if err := c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 1}); err != nil {
			t.Errorf("Publish = %v", err)
		}
		if err := c.Disconnect(context.Background(), nil); err != nil {
			t.Errorf("Disconnect = %v", err)
		}
	})
}

// countingConn counts Write calls.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func TestAcksBatched(t *testing.T) {
	const n = 100
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		var batch []byte
		for i := range n {
			batch, _ = packet.Append(batch, &packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1)}, f.v)
		}
		f.c.Write(batch)
		for range n {
			expect[*packet.Puback](f)
		}
		expect[*packet.Disconnect](f)
	})
	var cc *countingConn
	addr := strings.TrimPrefix(s.url, "mqtt://")
	msgs := make(chan struct{}, n)
	c := dial(t, s, Options{
		Dialer: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			cc = &countingConn{Conn: conn}
			return cc, nil
		},
		OnMessage: func(*packet.Publish) { msgs <- struct{}{} },
	})
	for range n {
		<-msgs
	}
	c.Disconnect(context.Background(), nil)
	// CONNECT, DISCONNECT, and the acks in a few writes rather than one each.
	if w := cc.writes.Load(); w > 10 {
		t.Errorf("%d writes for %d PUBACKs, want them batched", w, n)
	}
}

func TestCorkedQueueFlushes(t *testing.T) {
	big := make([]byte, 200<<10)
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		var batch []byte
		for range 5 {
			batch, _ = packet.Append(batch, &packet.Publish{Topic: "in"}, f.v)
		}
		f.c.Write(batch)
		for range 5 {
			if p := expect[*packet.Publish](f); p != nil && len(p.Payload) != len(big) {
				t.Errorf("payload of %d bytes, want %d", len(p.Payload), len(big))
			}
		}
		expect[*packet.Disconnect](f)
	})
	var c *Client
	ready := make(chan struct{})
	got := make(chan error, 5)
	c = dial(t, s, Options{OnMessage: func(*packet.Publish) {
		<-ready
		got <- c.Publish(context.Background(), &packet.Publish{Topic: "out", Payload: big})
	}})
	close(ready)
	for range 5 {
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("Publish from OnMessage = %v", err)
			}
		case <-time.After(fakeTimeout):
			t.Fatal("Publish from OnMessage stuck")
		}
	}
	c.Disconnect(context.Background(), nil)
}

func TestConcurrentPublishers(t *testing.T) {
	const goroutines, each, window = 4, 25, 2
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		// Read until window publishes are outstanding (or no more come),
		// then ack one, so the publishers keep waiting for slots.
		outstanding := map[uint16]bool{}
		for received := 0; received < goroutines*each || len(outstanding) > 0; {
			if received < goroutines*each && len(outstanding) < window {
				p, err := f.readWithin(50 * time.Millisecond)
				if err == nil {
					pub, ok := p.(*packet.Publish)
					if !ok {
						t.Errorf("got %s, want PUBLISH", p.Type())
						return
					}
					if outstanding[pub.PacketID] {
						t.Errorf("packet id %d reused while in flight", pub.PacketID)
					}
					outstanding[pub.PacketID] = true
					received++
					continue
				}
				if !isTimeout(err) {
					t.Errorf("read: %v", err)
					return
				}
			}
			if len(outstanding) > window {
				t.Errorf("%d publishes in flight, window %d", len(outstanding), window)
			}
			for id := range outstanding {
				f.write(&packet.Puback{PacketID: id})
				delete(outstanding, id)
				break
			}
		}
	})
	c := dial(t, s, Options{MaxInflight: window})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- c.Publish(context.Background(), &packet.Publish{Topic: "c", QoS: 1})
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if err != nil {
			t.Errorf("Publish = %v", err)
		}
		n++
	}
	if n != goroutines*each {
		t.Errorf("%d publishes finished, want %d", n, goroutines*each)
	}
}

func TestStuckServer(t *testing.T) {
	hold := make(chan struct{})
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		<-hold // never read again
	})
	defer close(hold)
	c := dial(t, s, Options{})
	// Fill the socket buffers and the queue until PublishAsync blocks.
	payload := make([]byte, 64<<10)
	blocked := make(chan error, 1)
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := c.PublishAsync(ctx, &packet.Publish{Topic: "t", Payload: payload}, nil)
			cancel()
			if err != nil {
				blocked <- err
				return
			}
		}
	}()
	select {
	case err := <-blocked:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("PublishAsync on a full queue = %v, want deadline exceeded", err)
		}
	case <-time.After(fakeTimeout):
		t.Fatal("PublishAsync never blocked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Disconnect(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Disconnect = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Disconnect took %v", d)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Disconnect gave up")
	}
}

// cancelOnDeadline is a connection whose first SetDeadline ends the dial's
// ctx and then gives ctx's own handlers a moment to set theirs first, the
// interleaving in which a handshake could lose the cancellation.
type cancelOnDeadline struct {
	net.Conn
	cancel context.CancelFunc
	once   sync.Once
	set    chan struct{} // a later SetDeadline happened
}

func (c *cancelOnDeadline) SetDeadline(t time.Time) error {
	first := false
	c.once.Do(func() { first = true })
	if !first {
		select {
		case c.set <- struct{}{}:
		default:
		}
		return c.Conn.SetDeadline(t)
	}
	c.cancel()
	select {
	case <-c.set:
	case <-time.After(200 * time.Millisecond):
	}
	return c.Conn.SetDeadline(t)
}
