package broker

import (
	"context"
	"strings"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// testAuth refuses user "bad", and denies publishing to and subscribing
// under "secret/".
type testAuth struct{}

func (testAuth) Authenticate(_ context.Context, c *packet.Connect) packet.ReasonCode {
	if c.Username == "bad" {
		return packet.BadUserNameOrPassword
	}
	return packet.Success
}

func (testAuth) Authorize(_ context.Context, cl Client, a Access, topic string) bool {
	if a == AccessReceive && strings.HasPrefix(topic, "hidden/") {
		return cl.Username == "reader"
	}
	return !strings.HasPrefix(topic, "secret/")
}

func TestAuthenticator(t *testing.T) {
	addr, _ := startServer(t, Options{Auth: testAuth{}})
	t.Run("refused v5", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		if ack := c.connect(&packet.Connect{ClientID: "a1", CleanStart: true, Username: "bad"}); ack.ReasonCode != packet.BadUserNameOrPassword {
			t.Errorf("CONNACK %v, want 0x86", ack.ReasonCode)
		}
		c.closed()
	})
	t.Run("enhanced authentication refused", func(t *testing.T) {
		c := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "a4", CleanStart: true}
		cp.Props.SetString(packet.PropAuthMethod, "SCRAM-SHA-1")
		if ack := c.connect(cp); ack.ReasonCode != packet.BadAuthenticationMethod || ack.Props.ReasonString == "" {
			t.Errorf("CONNACK %v reason string %q, want 0x8C with a reason string", ack.ReasonCode, ack.Props.ReasonString)
		}
		c.closed()
	})
	t.Run("refused 3.1.1", func(t *testing.T) {
		c := dial(t, addr, packet.V311)
		if ack := c.connect(&packet.Connect{ClientID: "a2", CleanStart: true, Username: "bad"}); ack.ReasonCode != packet.BadUserNameOrPassword {
			t.Errorf("CONNACK %v, want return code 4", ack.ReasonCode)
		}
		c.closed()
	})
	t.Run("acl", func(t *testing.T) {
		c := connected(t, addr, packet.V5, "a3")
		ack := c.subscribe(1, sub("secret/x", 1), sub("open/x", 1))
		if ack.ReasonCodes[0] != packet.NotAuthorized || ack.ReasonCodes[1] != packet.GrantedQoS1 {
			t.Errorf("SUBACK %v, want [not authorized, granted 1]", ack.ReasonCodes)
		}
		c.send(&packet.Publish{Topic: "secret/y", QoS: 1, PacketID: 1, Payload: []byte("x")})
		if pa := recvAs[*packet.Puback](c); pa.ReasonCode != packet.NotAuthorized {
			t.Errorf("PUBACK %v, want 0x87", pa.ReasonCode)
		}
	})
	t.Run("receive", func(t *testing.T) {
		other := connected(t, addr, packet.V5, "a5")
		other.subscribe(1, sub("hidden/#", 0))
		reader := dial(t, addr, packet.V5)
		reader.connect(&packet.Connect{ClientID: "a6", CleanStart: true, Username: "reader"})
		reader.subscribe(1, sub("hidden/#", 0))
		p := connected(t, addr, packet.V5, "a7")
		p.publish(&packet.Publish{Topic: "hidden/x", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")})
		if got := other.sync(); len(got) != 0 {
			t.Errorf("client without read access got %v", got)
		}
		if got := reader.sync(); len(got) != 1 {
			t.Errorf("reader got %v, want the message", got)
		}
		late := connected(t, addr, packet.V5, "a8")
		late.subscribe(1, sub("hidden/#", 0))
		if got := late.sync(); len(got) != 0 {
			t.Errorf("retained message delivered without read access: %v", got)
		}
	})
}

// TestStoreRestore runs a second Server on the first one's store: the
// persistent session, its subscription and its queued message survive.
func TestStoreRestore(t *testing.T) {
	st := NewMemoryStore()
	addr, _ := startServer(t, Options{Store: st})
	c, _ := persistent(t, addr, packet.V5, "restore")
	c.subscribe(1, sub("restore/#", 1))
	c.send(&packet.Disconnect{})
	c.closed()
	p := connected(t, addr, packet.V5, "restore-pub")
	p.publish(&packet.Publish{Topic: "restore/a", QoS: 1, PacketID: 1, Payload: []byte("kept")})

	addr2, _ := startServer(t, Options{Store: st})
	c2, ack := persistent(t, addr2, packet.V5, "restore")
	if !ack.SessionPresent {
		t.Fatalf("session present = false on a server restored from the store")
	}
	got := c2.sync()
	if len(got) != 1 || string(got[0].(*packet.Publish).Payload) != "kept" {
		t.Fatalf("got %v, want the queued message", got)
	}
	p2 := connected(t, addr2, packet.V5, "restore-pub2")
	p2.publish(&packet.Publish{Topic: "restore/b", QoS: 1, PacketID: 1, Payload: []byte("new")})
	if pub := recvAs[*packet.Publish](c2); string(pub.Payload) != "new" {
		t.Errorf("got %q, want the restored subscription to deliver \"new\"", pub.Payload)
	}
}
