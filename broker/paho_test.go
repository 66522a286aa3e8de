package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func pahoClient(t *testing.T, addr, id string, clean bool) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetProtocolVersion(4).SetAutoReconnect(false).
		SetConnectTimeout(testTimeout).SetKeepAlive(30 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(testTimeout) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(0)
		}
	})
	return c
}

func wait(t *testing.T, what string, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(testTimeout) || tok.Error() != nil {
		t.Fatalf("paho %s: %v", what, tok.Error())
	}
}

// TestPaho drives the broker with paho.mqtt.golang at 3.1.1: QoS 0/1/2
// round trips, retained messages and a persistent session.
func TestPaho(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			topic := fmt.Sprintf("paho/%d", qos)
			got := make(chan mqtt.Message, 10)
			sub := pahoClient(t, addr, "paho-sub-"+topic, true)
			wait(t, "subscribe", sub.Subscribe(topic, qos, func(_ mqtt.Client, m mqtt.Message) { got <- m }))
			pub := pahoClient(t, addr, "paho-pub-"+topic, true)
			for i := range 5 {
				wait(t, "publish", pub.Publish(topic, qos, false, fmt.Sprint(i)))
			}
			for i := range 5 {
				select {
				case m := <-got:
					if string(m.Payload()) != fmt.Sprint(i) || m.Qos() != qos {
						t.Errorf("message %d = %q at QoS %d, want %d at QoS %d", i, m.Payload(), m.Qos(), i, qos)
					}
				case <-time.After(testTimeout):
					t.Fatalf("message %d not received", i)
				}
			}
		})
	}
	t.Run("retained", func(t *testing.T) {
		pub := pahoClient(t, addr, "paho-ret-pub", true)
		wait(t, "publish", pub.Publish("paho/ret", 1, true, "kept"))
		got := make(chan mqtt.Message, 1)
		sub := pahoClient(t, addr, "paho-ret-sub", true)
		wait(t, "subscribe", sub.Subscribe("paho/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }))
		select {
		case m := <-got:
			if string(m.Payload()) != "kept" || !m.Retained() {
				t.Errorf("retained = %q retained=%v, want kept with retain flag", m.Payload(), m.Retained())
			}
		case <-time.After(testTimeout):
			t.Fatal("retained message not received")
		}
	})
	t.Run("persistent session", func(t *testing.T) {
		var mu sync.Mutex
		var payloads []string
		handler := func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			payloads = append(payloads, string(m.Payload()))
			mu.Unlock()
		}
		o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("paho-persist").
			SetCleanSession(false).SetAutoReconnect(false).SetDefaultPublishHandler(handler)
		c := mqtt.NewClient(o)
		wait(t, "connect", c.Connect())
		wait(t, "subscribe", c.Subscribe("paho/persist", 1, nil))
		c.Disconnect(0)
		// Published only once the broker has the session offline: sent to
		// the closing connection, paho may take the message and drop it.
		waitFor(t, "paho-persist offline", func() bool { return sessionOffline(t, addr, "paho-persist") })
		pub := pahoClient(t, addr, "paho-persist-pub", true)
		wait(t, "publish", pub.Publish("paho/persist", 1, false, "while away"))
		c = mqtt.NewClient(o)
		wait(t, "reconnect", c.Connect())
		defer c.Disconnect(0)
		waitFor(t, "queued message", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(payloads) == 1 && payloads[0] == "while away"
		})
	})
}
