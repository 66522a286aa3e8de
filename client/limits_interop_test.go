package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/internal/mosquittotest"
	"github.com/mqtool/mqtool/packet"
)

// TestInteropMaximumPacketSize checks against mosquitto's max_packet_size
// that oversized packets are refused before they are sent: mosquitto would
// disconnect a client that sent one, and the connection stays up.
func TestInteropMaximumPacketSize(t *testing.T) {
	url := mosquittotest.Start(t, mosquittotest.Options{Config: []string{"max_packet_size 100"}}).URL()
	msgs := make(collector, 10)
	c := mustDial(t, Options{URL: url, Version: packet.V5, ClientID: "limits-mps", OnMessage: msgs.on})
	if got := c.Connack().Props.MaximumPacketSize; got != 100 {
		t.Fatalf("CONNACK Maximum Packet Size %d, want 100", got)
	}
	long := strings.Repeat("f", 120)
	if _, err := c.Subscribe(context.Background(), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: long}}}); !errors.Is(err, packet.PacketTooLarge) {
		t.Errorf("Subscribe(120-byte filter) = %v, want packet too large", err)
	}
	if _, err := c.Unsubscribe(context.Background(), &packet.Unsubscribe{Filters: []string{long}}); !errors.Is(err, packet.PacketTooLarge) {
		t.Errorf("Unsubscribe(120-byte filter) = %v, want packet too large", err)
	}
	if err := c.Publish(context.Background(), &packet.Publish{Topic: "lim/t", QoS: 1, Payload: make([]byte, 100)}); !errors.Is(err, packet.PacketTooLarge) {
		t.Errorf("Publish(100-byte payload) = %v, want packet too large", err)
	}
	mustSubscribe(t, c, "lim/#", 1)
	if err := c.Publish(context.Background(), &packet.Publish{Topic: "lim/t", QoS: 1, Payload: []byte("fits")}); err != nil {
		t.Fatalf("Publish after the refusals = %v", err)
	}
	if p := msgs.next(t); string(p.Payload) != "fits" {
		t.Errorf("got %q, want fits", p.Payload)
	}
	d := &packet.Disconnect{}
	d.Props.SetString(packet.PropReasonString, strings.Repeat("r", 120))
	if err := c.Disconnect(context.Background(), d); err != nil {
		t.Errorf("Disconnect with a 120-byte Reason String = %v", err)
	}
}

// TestInteropAuthMethodRefused checks the refusal of a broker without
// enhanced authentication: mosquitto with no authentication plugin answers
// CONNACK 0x8C Bad authentication method [MQTT-4.12.0-1].
func TestInteropAuthMethodRefused(t *testing.T) {
	url := startMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	called := false
	c, err := Dial(ctx, Options{URL: url, Version: packet.V5, ClientID: "limits-auth", ConnectProps: authProps("SCRAM-SHA-256", "n,,n=u,r=abc"),
		Authenticate: func(context.Context, *packet.Auth) (*packet.Auth, error) { called = true; return nil, nil }})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Code() != int(packet.BadAuthenticationMethod) {
		t.Errorf("Dial = %v, want *ConnectError with code 140", err)
	}
	if called {
		t.Error("Authenticate called")
	}
}
