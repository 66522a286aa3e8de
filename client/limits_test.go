package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// inStep is one packet the fake server sends and the bytes the client
// must answer with (nil: nothing).
type inStep struct {
	send packet.Packet
	want []byte
}

func pub(qos packet.QoS, id uint16) *packet.Publish {
	return &packet.Publish{Topic: "t", QoS: qos, PacketID: id, Payload: []byte{byte(id)}}
}

func TestReceiveMaximumInbound(t *testing.T) {
	// Answers at MQTT 5, short form: type, remaining length 2, packet id.
	pubrec := func(id byte) []byte { return []byte{0x50, 0x02, 0x00, id} }
	pubcomp := func(id byte) []byte { return []byte{0x70, 0x02, 0x00, id} }
	puback := func(id byte) []byte { return []byte{0x40, 0x02, 0x00, id} }
	dup := func(p *packet.Publish) *packet.Publish { p.Dup = true; return p }
	exceeded := []byte{0xE0, 0x01, 0x93} // DISCONNECT 0x93 Receive Maximum exceeded
	tests := []struct {
		name       string
		version    packet.Version
		receiveMax uint16 // 0: not in CONNECT
		steps      []inStep
		batch      bool // the server writes every step at once, then reads the answers
		wantMsgs   int
		exceeded   bool
	}{
		{
			name: "QoS 2 up to the maximum", version: packet.V5, receiveMax: 2,
			steps: []inStep{
				{pub(2, 1), pubrec(1)}, {pub(2, 2), pubrec(2)},
				{&packet.Pubrel{PacketID: 1}, pubcomp(1)},
				{pub(2, 3), pubrec(3)},
				{&packet.Pubrel{PacketID: 2}, pubcomp(2)}, {&packet.Pubrel{PacketID: 3}, pubcomp(3)},
			},
			wantMsgs: 3,
		},
		{
			name: "QoS 2 over the maximum", version: packet.V5, receiveMax: 2,
			steps:    []inStep{{pub(2, 1), pubrec(1)}, {pub(2, 2), pubrec(2)}, {pub(2, 3), exceeded}},
			wantMsgs: 2, exceeded: true,
		},
		{
			name: "QoS 2 counted until PUBCOMP, not PUBREC", version: packet.V5, receiveMax: 1,
			steps:    []inStep{{pub(2, 1), pubrec(1)}, {pub(2, 2), exceeded}},
			wantMsgs: 1, exceeded: true,
		},
		{
			name: "QoS 1 over held QoS 2", version: packet.V5, receiveMax: 1,
			steps:    []inStep{{pub(2, 1), pubrec(1)}, {pub(1, 2), exceeded}},
			wantMsgs: 1, exceeded: true,
		},
		{
			name: "QoS 2 resend takes no more", version: packet.V5, receiveMax: 1,
			steps: []inStep{
				{pub(2, 1), pubrec(1)}, {dup(pub(2, 1)), pubrec(1)},
				{&packet.Pubrel{PacketID: 1}, pubcomp(1)}, {pub(2, 2), pubrec(2)},
				{&packet.Pubrel{PacketID: 2}, pubcomp(2)},
			},
			wantMsgs: 2,
		},
		{
			name: "QoS 0 not counted", version: packet.V5, receiveMax: 1,
			steps: []inStep{
				{pub(2, 1), pubrec(1)}, {pub(0, 0), nil},
				{&packet.Pubrel{PacketID: 1}, pubcomp(1)},
			},
			wantMsgs: 2,
		},
		{
			// Each PUBACK is queued before the next PUBLISH is read.
			name: "QoS 1 counted until its PUBACK is queued", version: packet.V5, receiveMax: 1, batch: true,
			steps:    []inStep{{pub(1, 1), puback(1)}, {pub(1, 2), puback(2)}, {pub(1, 3), puback(3)}},
			wantMsgs: 3,
		},
		{
			name: "default 65535", version: packet.V5,
			steps: func() []inStep {
				var s []inStep
				for id := byte(1); id <= 30; id++ {
					s = append(s, inStep{pub(2, uint16(id)), pubrec(id)})
				}
				return s
			}(),
			wantMsgs: 30,
		},
		{
			name: "3.1.1 has no Receive Maximum", version: packet.V311,
			steps:    []inStep{{pub(2, 1), pubrec(1)}, {pub(2, 2), pubrec(2)}, {pub(1, 3), puback(3)}},
			wantMsgs: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stepsDone := make(chan struct{})
			s := startFake(t, func(f *fakeConn) {
				defer close(stepsDone)
				cp := f.accept(nil)
				if cp == nil {
					return
				}
				if got := cp.Props.Has(packet.PropReceiveMaximum); got != (tt.receiveMax != 0) || cp.Props.ReceiveMaximum != tt.receiveMax {
					t.Errorf("CONNECT Receive Maximum present %v value %d, want %d", got, cp.Props.ReceiveMaximum, tt.receiveMax)
				}
				if tt.batch {
					var b []byte
					for _, st := range tt.steps {
						b, _ = packet.Append(b, st.send, f.v)
					}
					f.c.Write(b)
				}
				for i, st := range tt.steps {
					if !tt.batch {
						f.write(st.send)
					}
					if st.want == nil {
						continue
					}
					if got := f.readRaw(); !bytes.Equal(got, st.want) {
						t.Errorf("step %d (%s): client sent % x, want % x", i+1, st.send.Type(), got, st.want)
						return
					}
				}
				if tt.exceeded {
					if !f.closedByClient() {
						t.Error("client did not close the connection")
					}
					return
				}
				stepsDone <- struct{}{}
				f.expectBytes([]byte{0xE0, 0x00})
			})
			var props packet.Properties
			if tt.receiveMax != 0 {
				props.SetUint(packet.PropReceiveMaximum, uint64(tt.receiveMax))
			}
			var msgs atomic.Int32
			c := dial(t, s, Options{Version: tt.version, ConnectProps: props, OnMessage: func(*packet.Publish) { msgs.Add(1) }})
			if tt.exceeded {
				waitDone(t, c)
				want := fmt.Sprintf("client: server sent more than Receive Maximum %d unacknowledged QoS 1 and 2 PUBLISH packets: receive maximum exceeded", tt.receiveMax)
				if err := c.Err(); err == nil || err.Error() != want {
					t.Errorf("Err() = %v, want %q", err, want)
				}
				if !errors.Is(c.Err(), packet.ReceiveMaximumExceeded) {
					t.Errorf("errors.Is(%v, ReceiveMaximumExceeded) = false", c.Err())
				}
			} else {
				select {
				case <-stepsDone:
				case <-time.After(fakeTimeout):
					t.Fatal("server script stuck")
				}
				if c.Err() != nil {
					t.Errorf("Err() = %v, want the connection up", c.Err())
				}
				if err := c.Disconnect(context.Background(), nil); err != nil {
					t.Errorf("Disconnect = %v", err)
				}
			}
			if n := int(msgs.Load()); n != tt.wantMsgs {
				t.Errorf("%d messages delivered, want %d", n, tt.wantMsgs)
			}
		})
	}
}

// limitServer answers CONNECT with a CONNACK that sets Maximum Packet Size
// max, then acknowledges SUBSCRIBE, UNSUBSCRIBE and PUBLISH, recording
// each, until DISCONNECT, whose bytes it records too.
func limitServer(t *testing.T, max uint32, seen chan<- string) *fakeServer {
	var ca packet.Connack
	ca.Props.SetUint(packet.PropMaximumPacketSize, uint64(max))
	return startFake(t, func(f *fakeConn) {
		defer close(seen)
		if f.accept(&ca) == nil {
			return
		}
		for {
			raw := f.readRaw()
			if raw == nil {
				return
			}
			p, err := packet.Decode(raw[0], raw[1+remainingLenSize(raw):], f.v)
			if err != nil {
				t.Errorf("fake server: decode % x: %v", raw, err)
				return
			}
			switch p := p.(type) {
			case *packet.Subscribe:
				seen <- fmt.Sprintf("SUBSCRIBE %s (%d bytes)", p.Subscriptions[0].Filter, len(raw))
				f.write(&packet.Suback{PacketID: p.PacketID, ReasonCodes: []packet.ReasonCode{0}})
			case *packet.Unsubscribe:
				seen <- fmt.Sprintf("UNSUBSCRIBE %s (%d bytes)", p.Filters[0], len(raw))
				f.write(&packet.Unsuback{PacketID: p.PacketID, ReasonCodes: []packet.ReasonCode{0}})
			case *packet.Publish:
				seen <- fmt.Sprintf("PUBLISH %s qos %d (%d bytes)", p.Topic, p.QoS, len(raw))
				switch p.QoS {
				case 1:
					f.write(&packet.Puback{PacketID: p.PacketID})
				case 2:
					f.write(&packet.Pubrec{PacketID: p.PacketID})
					expect[*packet.Pubrel](f)
					f.write(&packet.Pubcomp{PacketID: p.PacketID})
				}
			case *packet.Disconnect:
				seen <- fmt.Sprintf("DISCONNECT % x", raw)
				return
			default:
				t.Errorf("fake server: got %s", p.Type())
				return
			}
		}
	})
}

// remainingLenSize returns how many bytes the remaining length of the
// packet raw takes.
func remainingLenSize(raw []byte) int {
	n := 1
	for n < len(raw)-1 && raw[n]&0x80 != 0 {
		n++
	}
	return n
}

func collect(seen <-chan string) []string {
	var got []string
	for s := range seen {
		got = append(got, s)
	}
	return got
}

func TestMaximumPacketSizeRefused(t *testing.T) {
	const max = 40
	f40 := strings.Repeat("f", 40)
	f32 := strings.Repeat("f", 32)
	payload := make([]byte, 40)
	sub := func(filter string) func(c *Client) error {
		return func(c *Client) error {
			_, err := c.Subscribe(context.Background(), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: filter}}})
			return err
		}
	}
	tests := []struct {
		name    string
		op      func(c *Client) error
		wantErr string // "" when the packet fits
		seen    string // what the server gets of it
	}{
		{
			// 1 type, 1 remaining length, 2 packet id, 1 property length,
			// 2+40 filter, 1 options.
			name: "SUBSCRIBE", op: sub(f40),
			wantErr: "client: SUBSCRIBE is 48 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{name: "SUBSCRIBE at the limit", op: sub(f32), seen: "SUBSCRIBE " + f32 + " (40 bytes)"},
		{
			// 1 type, 1 remaining length, 2 packet id, 1 property length, 2+40 filter.
			name: "UNSUBSCRIBE", op: func(c *Client) error {
				_, err := c.Unsubscribe(context.Background(), &packet.Unsubscribe{Filters: []string{f40}})
				return err
			},
			wantErr: "client: UNSUBSCRIBE is 47 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{
			// 1 type, 1 remaining length, 2+1 topic, 1 property length, 40 payload.
			name: "PUBLISH QoS 0", op: func(c *Client) error {
				return c.Publish(context.Background(), &packet.Publish{Topic: "t", Payload: payload})
			},
			wantErr: "client: PUBLISH is 46 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{
			// As QoS 0 and a 2-byte packet id.
			name: "PUBLISH QoS 1", op: func(c *Client) error {
				return c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 1, Payload: payload})
			},
			wantErr: "client: PUBLISH is 48 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{
			name: "PUBLISH QoS 2", op: func(c *Client) error {
				return c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 2, Payload: payload})
			},
			wantErr: "client: PUBLISH is 48 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{
			name: "PublishAsync QoS 1", op: func(c *Client) error {
				return c.PublishAsync(context.Background(), &packet.Publish{Topic: "t", QoS: 1, Payload: payload}, func(err error) {
					t.Errorf("done(%v) called for a PUBLISH that was not sent", err)
				})
			},
			wantErr: "client: PUBLISH is 48 bytes, over the server's Maximum Packet Size 40: packet too large",
		},
		{
			name: "PUBLISH at the limit", op: func(c *Client) error {
				return c.Publish(context.Background(), &packet.Publish{Topic: "t", QoS: 1, Payload: payload[:32]})
			},
			seen: "PUBLISH t qos 1 (40 bytes)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan string, 10)
			s := limitServer(t, max, seen)
			// A window of one: a refused QoS 1/2 PUBLISH must give its slot back.
			c := dial(t, s, Options{Version: packet.V5, MaxInflight: 1})
			err := tt.op(c)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("%s = %v, want success", tt.name, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("%s = %v, want %q", tt.name, err, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(err, packet.PacketTooLarge):
				t.Errorf("errors.Is(%v, PacketTooLarge) = false", err)
			}
			// The connection is still usable.
			if err := sub("ok")(c); err != nil {
				t.Errorf("Subscribe after = %v", err)
			}
			if err := c.Publish(context.Background(), &packet.Publish{Topic: "ok", QoS: 1}); err != nil {
				t.Errorf("Publish after = %v", err)
			}
			if err := c.Disconnect(context.Background(), nil); err != nil {
				t.Errorf("Disconnect = %v", err)
			}
			var want []string
			if tt.seen != "" {
				want = append(want, tt.seen)
			}
			want = append(want, "SUBSCRIBE ok (10 bytes)", "PUBLISH ok qos 1 (9 bytes)", "DISCONNECT e0 00")
			if got := collect(seen); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("server got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestMaximumPacketSizeSheds(t *testing.T) {
	userKV := packet.UserProperty{Key: "k", Value: "v"}                      // 26 00 01 6b 00 01 76
	userBig := packet.UserProperty{Key: strings.Repeat("k", 30), Value: "v"} // 36 bytes
	longRS := strings.Repeat("r", 30)                                        // 1f 00 1e + 30 bytes
	disc := func(rs string, user []packet.UserProperty, expiry bool) *packet.Disconnect {
		d := &packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage}
		if rs != "" {
			d.Props.SetString(packet.PropReasonString, rs)
		}
		d.Props.User = user
		if expiry {
			d.Props.SetUint(packet.PropSessionExpiry, 60)
		}
		return d
	}
	tests := []struct {
		name string
		max  uint32
		d    *packet.Disconnect
		want []byte
	}{
		{
			name: "fits: sent whole", max: 100, d: disc("bye", nil, false),
			// 04 reason; 06 properties; 1f 00 03 bye.
			want: []byte{0xE0, 0x08, 0x04, 0x06, 0x1F, 0x00, 0x03, 'b', 'y', 'e'},
		},
		{
			name: "Reason String dropped", max: 20, d: disc(longRS, nil, false),
			want: []byte{0xE0, 0x01, 0x04},
		},
		{
			name: "Reason String dropped, User Property kept", max: 20, d: disc(longRS, []packet.UserProperty{userKV}, false),
			want: []byte{0xE0, 0x09, 0x04, 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'},
		},
		{
			name: "User Properties dropped too, Session Expiry kept", max: 20, d: disc("bye", []packet.UserProperty{userBig}, true),
			// 04 reason; 05 properties; 11 00 00 00 3c session expiry 60.
			want: []byte{0xE0, 0x07, 0x04, 0x05, 0x11, 0x00, 0x00, 0x00, 0x3C},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan string, 10)
			s := limitServer(t, tt.max, seen)
			var mu sync.Mutex
			var traced *packet.Disconnect
			c := dial(t, s, Options{Version: packet.V5, Trace: func(sent bool, p packet.Packet) {
				if d, ok := p.(*packet.Disconnect); ok && sent {
					mu.Lock()
					traced = d
					mu.Unlock()
				}
			}})
			before := tt.d.Props
			if err := c.Disconnect(context.Background(), tt.d); err != nil {
				t.Errorf("Disconnect = %v", err)
			}
			want := fmt.Sprintf("DISCONNECT % x", tt.want)
			if got := collect(seen); len(got) != 1 || got[0] != want {
				t.Errorf("server got %q, want %q", got, want)
			}
			if !tt.d.Props.Equal(before) {
				t.Errorf("Disconnect changed the caller's properties: %+v, was %+v", tt.d.Props, before)
			}
			mu.Lock()
			defer mu.Unlock()
			if traced == nil {
				t.Fatal("DISCONNECT not traced")
			}
			if b, _ := packet.Append(nil, traced, packet.V5); !bytes.Equal(b, tt.want) {
				t.Errorf("Trace got % x, want the DISCONNECT as sent, % x", b, tt.want)
			}
		})
	}
}

func TestMaximumPacketSizeAuth(t *testing.T) {
	const max = 40
	var ca packet.Connack
	ca.Props.SetUint(packet.PropMaximumPacketSize, max)
	ca.Props.SetString(packet.PropAuthMethod, "SCRAM")
	s := startFake(t, func(f *fakeConn) {
		if f.accept(&ca) == nil {
			return
		}
		// The 115-byte AUTH of the first Reauthenticate never comes.
		if got, want := f.readRaw(), authWire(packet.ReAuthenticate, "SCRAM", "small"); !bytes.Equal(got, want) {
			t.Errorf("client sent % x, want % x", got, want)
		}
		f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
		// The answer without its Reason String and User Property: 20 bytes
		// rather than 79.
		if got, want := f.readRaw(), authWire(packet.ContinueAuthentication, "SCRAM", "re:s1"); !bytes.Equal(got, want) {
			t.Errorf("client answered % x, want % x", got, want)
		}
		f.write(serverAuth(packet.Success, "SCRAM", ""))
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{Version: packet.V5, ConnectProps: authProps("SCRAM", "c1"),
		Authenticate: func(ctx context.Context, a *packet.Auth) (*packet.Auth, error) {
			r, _ := echoAuth(ctx, a)
			r.Props.SetString(packet.PropReasonString, strings.Repeat("r", 20))
			r.Props.User = []packet.UserProperty{{Key: strings.Repeat("k", 30), Value: "v"}}
			return r, nil
		}})
	// 1 type, 1 remaining length, 1 reason, 1 property length, 3+5
	// method, 3+100 data.
	_, err := c.Reauthenticate(context.Background(), make([]byte, 100))
	if want := "client: AUTH is 115 bytes, over the server's Maximum Packet Size 40: packet too large"; err == nil || err.Error() != want {
		t.Errorf("Reauthenticate with 100 bytes = %v, want %q", err, want)
	}
	if _, err := c.Reauthenticate(context.Background(), []byte("small")); err != nil {
		t.Errorf("Reauthenticate after = %v", err)
	}
	if err := c.Disconnect(context.Background(), nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
}

// TestAppendPacket checks the one size check every packet passes, for the
// packets a test cannot make the client send with extra properties.
func TestAppendPacket(t *testing.T) {
	rs := func(p *packet.Properties) packet.Properties {
		p.SetString(packet.PropReasonString, strings.Repeat("r", 20))
		p.User = []packet.UserProperty{{Key: "k", Value: "v"}}
		return *p
	}
	var props packet.Properties
	rs(&props)
	tests := []struct {
		name    string
		max     int
		p       packet.Packet
		want    []byte
		wantErr string
	}{
		{"PUBACK", 10, &packet.Puback{PacketID: 1, ReasonCode: packet.NoMatchingSubscribers, Props: props},
			[]byte{0x40, 0x03, 0x00, 0x01, 0x10}, ""},
		{"PUBACK success to short form", 10, &packet.Puback{PacketID: 1, Props: props},
			[]byte{0x40, 0x02, 0x00, 0x01}, ""},
		{"PUBREC", 10, &packet.Pubrec{PacketID: 2, Props: props}, []byte{0x50, 0x02, 0x00, 0x02}, ""},
		{"PUBREL", 10, &packet.Pubrel{PacketID: 3, ReasonCode: packet.PacketIdentifierNotFound, Props: props},
			[]byte{0x62, 0x03, 0x00, 0x03, 0x92}, ""},
		{"PUBCOMP", 10, &packet.Pubcomp{PacketID: 4, Props: props}, []byte{0x70, 0x02, 0x00, 0x04}, ""},
		// 00 reason; 07 properties; 26 00 01 k 00 01 v.
		{"PUBACK User Property kept", 13, &packet.Puback{PacketID: 1, Props: props},
			[]byte{0x40, 0x0B, 0x00, 0x01, 0x00, 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'}, ""},
		// 1 type, 1 remaining length, 2 id, 1 reason, 1 property length,
		// 3+20 Reason String, 7 User Property.
		{"PUBACK over even when bare", 3, &packet.Puback{PacketID: 1, Props: props},
			nil, "client: PUBACK is 36 bytes, over the server's Maximum Packet Size 3: packet too large"},
		{"PINGREQ", 1, &packet.Pingreq{}, nil, "client: PINGREQ is 2 bytes, over the server's Maximum Packet Size 1: packet too large"},
		{"PUBACK fits", 0, &packet.Puback{PacketID: 1}, []byte{0x40, 0x02, 0x00, 0x01}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{version: packet.V5, maxPacket: tt.max}
			before := []byte("queued")
			got, sent, err := c.appendPacket(before, tt.p)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("appendPacket = % x, %v; want error %q", got, err, tt.wantErr)
				}
				if string(got) != "queued" {
					t.Errorf("appendPacket left % x, want the queue as it was", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("appendPacket = %v", err)
			}
			if want := append([]byte("queued"), tt.want...); !bytes.Equal(got, want) {
				t.Errorf("appendPacket = % x, want % x", got, want)
			}
			if b, _ := packet.Append(nil, sent, packet.V5); !bytes.Equal(b, tt.want) {
				t.Errorf("returned packet encodes as % x, want % x", b, tt.want)
			}
		})
	}
}

// TestMaximumPacketSizeAuthAnswer checks that an answer to the server's
// challenge that cannot fit ends the re-authentication and the connection
// [MQTT-4.12.1-2].
func TestMaximumPacketSizeAuthAnswer(t *testing.T) {
	var ca packet.Connack
	ca.Props.SetUint(packet.PropMaximumPacketSize, 40)
	s := startFake(t, func(f *fakeConn) {
		if f.accept(&ca) == nil {
			return
		}
		expect[*packet.Auth](f)
		f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
		f.expectBytes([]byte{0xE0, 0x01, 0x80})
		if !f.closedByClient() {
			t.Error("client did not close the connection")
		}
	})
	c := dial(t, s, Options{Version: packet.V5, ConnectProps: authProps("SCRAM", "c1"),
		Authenticate: func(context.Context, *packet.Auth) (*packet.Auth, error) {
			r := &packet.Auth{}
			r.Props.SetString(packet.PropAuthData, strings.Repeat("d", 100))
			return r, nil
		}})
	const want = "client: AUTH is 115 bytes, over the server's Maximum Packet Size 40: packet too large"
	if _, err := c.Reauthenticate(context.Background(), nil); err == nil || err.Error() != want {
		t.Errorf("Reauthenticate = %v, want %q", err, want)
	}
	waitDone(t, c)
	if err := c.Err(); err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want %q", err, want)
	}
}
