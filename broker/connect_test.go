package broker

import (
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

func TestConnectLevels(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			c := dial(t, addr, v)
			ack := c.connect(&packet.Connect{ClientID: "c-" + v.String(), CleanStart: true})
			if ack.ReasonCode != packet.Success || ack.SessionPresent {
				t.Fatalf("CONNACK = %+v, want success without session", ack)
			}
			if got := c.sync(); len(got) != 0 {
				t.Errorf("unexpected packets %v", got)
			}
		})
	}
}

func TestConnectUnsupportedProtocol(t *testing.T) {
	addr, _ := startServer(t, Options{})
	tests := []struct {
		name string
		raw  []byte
		v    packet.Version
		want packet.ReasonCode
	}{
		// "MQTT" level 6 is answered at 3.1.1 with return code 1.
		{"level 6", []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 0}, packet.V311, packet.UnsupportedProtocolVersion},
		{"level 2", []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 2, 2, 0, 60, 0, 0}, packet.V311, packet.UnsupportedProtocolVersion},
		{"name hj", []byte{0x10, 0x0a, 0, 2, 'h', 'j', 4, 2, 0, 60, 0, 0}, packet.V311, packet.UnsupportedProtocolVersion},
		// "MQIsdp" at level 5 is answered at level 5 with 0x84.
		{"MQIsdp level 5", []byte{0x10, 0x0f, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 5, 2, 0, 60, 0, 0, 0}, packet.V5, packet.UnsupportedProtocolVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr, tt.v)
			c.sendRaw(tt.raw)
			got := c.closed()
			if len(got) != 1 {
				t.Fatalf("after CONNECT % x got %v, want one CONNACK then close", tt.raw, got)
			}
			ack, ok := got[0].(*packet.Connack)
			if !ok || ack.ReasonCode != tt.want {
				t.Errorf("after CONNECT % x got %+v, want CONNACK %v", tt.raw, got[0], tt.want)
			}
		})
	}
}

func TestConnectFirstPacketNotConnect(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Pingreq{})
	if got := c.closed(); len(got) != 0 {
		t.Errorf("got %v, want close without reply", got)
	}
}

func TestConnectSecondConnect(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, tt := range []struct {
		v    packet.Version
		want int
	}{{packet.V311, 0}, {packet.V5, 1}} {
		t.Run(tt.v.String(), func(t *testing.T) {
			c := connected(t, addr, tt.v, "twice")
			c.send(&packet.Connect{Version: tt.v, ClientID: "twice", CleanStart: true})
			got := c.closed()
			if len(got) != tt.want {
				t.Fatalf("got %v, want %d packets then close", got, tt.want)
			}
			if tt.want == 1 {
				if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ProtocolError {
					t.Errorf("got %+v, want DISCONNECT 0x82", got[0])
				}
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	addr, _ := startServer(t, Options{ConnectTimeout: 200 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	start := time.Now()
	c.closed()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about 200ms", d)
	}
}

func TestConnectEmptyClientID(t *testing.T) {
	addr, _ := startServer(t, Options{})
	t.Run("v5 assigned", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		ack := c.connect(&packet.Connect{CleanStart: true})
		if ack.ReasonCode != packet.Success || ack.Props.AssignedClientID == "" {
			t.Fatalf("CONNACK = %+v, want success with Assigned Client Identifier", ack)
		}
	})
	t.Run("v5 assigned without clean start", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		ack := c.connect(&packet.Connect{})
		if ack.ReasonCode != packet.Success || ack.Props.AssignedClientID == "" {
			t.Fatalf("CONNACK = %+v, want success with Assigned Client Identifier", ack)
		}
	})
	t.Run("3.1.1 clean session", func(t *testing.T) {
		c := dial(t, addr, packet.V311)
		if ack := c.connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNACK = %+v, want success", ack)
		}
	})
	t.Run("3.1.1 persistent refused", func(t *testing.T) {
		c := dial(t, addr, packet.V311)
		ack := c.connect(&packet.Connect{})
		if ack.ReasonCode != packet.ClientIdentifierNotValid {
			t.Fatalf("CONNACK = %+v, want 0x02 identifier rejected", ack)
		}
		c.closed()
	})
}

func TestConnectTakeover(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			id := "dup-" + v.String()
			old, _ := persistent(t, addr, v, id)
			old.subscribe(1, sub("take/"+v.String(), 1))
			c, ack := persistent(t, addr, v, id)
			if !ack.SessionPresent {
				t.Errorf("CONNACK session present = false, want true (session handed over)")
			}
			got := old.closed()
			if v == packet.V5 {
				if len(got) != 1 {
					t.Fatalf("old connection got %v, want DISCONNECT 0x8E", got)
				}
				if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.SessionTakenOver {
					t.Errorf("old connection got %+v, want DISCONNECT 0x8E", got[0])
				}
			} else if len(got) != 0 {
				t.Errorf("old connection got %v, want close", got)
			}
			// The subscription moved with the session.
			p := connected(t, addr, v, "pub-"+v.String())
			p.publish(&packet.Publish{Topic: "take/" + v.String(), QoS: 1, PacketID: 1, Payload: []byte("x")})
			pub := recvAs[*packet.Publish](c)
			if string(pub.Payload) != "x" {
				t.Errorf("payload = %q, want x", pub.Payload)
			}
		})
	}
}

func TestConnackProperties(t *testing.T) {
	addr, _ := startServer(t, Options{MaxPacketSize: 4096, MaxInflightMessages: 7})
	c := dial(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "props", CleanStart: true})
	p := &ack.Props
	checks := []struct {
		id   packet.PropID
		got  uint32
		want uint32
	}{
		{packet.PropRetainAvailable, uint32(p.RetainAvailable), 1},
		{packet.PropWildcardSubAvailable, uint32(p.WildcardSubAvailable), 1},
		{packet.PropSubscriptionIDAvailable, uint32(p.SubscriptionIDAvailable), 1},
		{packet.PropSharedSubAvailable, uint32(p.SharedSubAvailable), 1},
		{packet.PropReceiveMaximum, uint32(p.ReceiveMaximum), 7},
		{packet.PropMaximumPacketSize, p.MaximumPacketSize, 4096},
		{packet.PropTopicAliasMaximum, uint32(p.TopicAliasMaximum), 10},
	}
	for _, ch := range checks {
		if !p.Has(ch.id) || ch.got != ch.want {
			t.Errorf("CONNACK %s = %d (present %v), want %d", ch.id, ch.got, p.Has(ch.id), ch.want)
		}
	}
	if p.Has(packet.PropMaximumQoS) {
		t.Errorf("CONNACK has Maximum QoS %d, want absent (QoS 2 supported)", p.MaximumQoS)
	}
}

func TestConnectResponseInformation(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "rr", CleanStart: true}
	cp.Props.SetUint(packet.PropRequestResponseInfo, 1)
	ack := c.connect(cp)
	if ack.Props.ResponseInfo == "" {
		t.Errorf("CONNACK without Response Information, want one when requested")
	}
	c2 := dial(t, addr, packet.V5)
	if ack := c2.connect(&packet.Connect{ClientID: "rr2", CleanStart: true}); ack.Props.Has(packet.PropResponseInfo) {
		t.Errorf("CONNACK has Response Information %q without request", ack.Props.ResponseInfo)
	}
}

func TestServerKeepAlive(t *testing.T) {
	addr, _ := startServer(t, Options{MaxKeepalive: 30})
	c := dial(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "ska", CleanStart: true, KeepAlive: 120})
	if !ack.Props.Has(packet.PropServerKeepAlive) || ack.Props.ServerKeepAlive != 30 {
		t.Errorf("Server Keep Alive = %d (present %v), want 30", ack.Props.ServerKeepAlive, ack.Props.Has(packet.PropServerKeepAlive))
	}
	c2 := dial(t, addr, packet.V5)
	if ack := c2.connect(&packet.Connect{ClientID: "ska2", CleanStart: true, KeepAlive: 20}); ack.Props.Has(packet.PropServerKeepAlive) {
		t.Errorf("Server Keep Alive %d sent for keep alive 20 <= 30", ack.Props.ServerKeepAlive)
	}
}

func TestKeepAlive(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			c := dial(t, addr, v)
			c.connect(&packet.Connect{ClientID: "ka-" + v.String(), CleanStart: true, KeepAlive: 1})
			// PINGREQ is answered and keeps the connection open.
			for range 3 {
				c.send(&packet.Pingreq{})
				recvAs[*packet.Pingresp](c)
			}
			start := time.Now()
			got := c.closed()
			d := time.Since(start)
			if d < time.Second || d > 3*time.Second {
				t.Errorf("closed %v after the last packet, want about 1.5s", d)
			}
			if v == packet.V5 {
				if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.KeepAliveTimeout {
					t.Errorf("got %v, want DISCONNECT 0x8D", got)
				}
			}
		})
	}
}

// TestTakeoverRightAfterConnack checks that a CONNECT with the same client
// id sent as soon as the first connection has its CONNACK closes the first
// connection: the CONNACK and the session's owner change together. The
// broker is held up right after queueing each CONNACK, so that the second
// CONNECT arrives in that moment.
func TestTakeoverRightAfterConnack(t *testing.T) {
	afterConnackHook = func() { time.Sleep(20 * time.Millisecond) }
	t.Cleanup(func() { afterConnackHook = nil })
	addr, _ := startServer(t, Options{})
	for _, clean := range []bool{true, false} {
		first := dial(t, addr, packet.V311)
		first.connect(&packet.Connect{ClientID: "quick", CleanStart: clean})
		second := dial(t, addr, packet.V311)
		second.connect(&packet.Connect{ClientID: "quick", CleanStart: clean})
		if !first.closedWithin(time.Second) {
			t.Errorf("clean session %v: the first connection is still open a second after the second CONNACK", clean)
		}
		second.nc.Close()
	}
}
