package broker

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

func TestRetained(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			topic := "ret/" + v.String()
			p := connected(t, addr, v, "ret-pub-"+v.String())
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Retain: true, Payload: []byte("one")})
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Retain: true, Payload: []byte("two")})

			s := connected(t, addr, v, "ret-sub-"+v.String())
			s.subscribe(1, sub("ret/#", 1))
			got := s.sync()
			if len(got) != 1 {
				t.Fatalf("got %v, want the one retained message", got)
			}
			pub := got[0].(*packet.Publish)
			if string(pub.Payload) != "two" || !pub.Retain {
				t.Errorf("retained delivery %q retain=%v, want \"two\" with retain set (replaced)", pub.Payload, pub.Retain)
			}
			s.send(&packet.Puback{PacketID: pub.PacketID})

			// A live message to an existing subscriber has retain cleared.
			p.publish(&packet.Publish{Topic: topic, QoS: 0, Retain: true, Payload: []byte("three")})
			live := recvAs[*packet.Publish](s)
			if live.Retain {
				t.Errorf("live delivery has retain set, want cleared [MQTT-3.3.1-9]")
			}

			// Empty payload deletes.
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Retain: true})
			s2 := connected(t, addr, v, "ret-sub2-"+v.String())
			s2.subscribe(1, sub(topic, 1))
			if got := s2.sync(); len(got) != 0 {
				t.Errorf("got %v after delete, want no retained message", got)
			}
		})
	}
}

func TestRetainHandling(t *testing.T) {
	addr, _ := startServer(t, Options{})
	p := connected(t, addr, packet.V5, "rh-pub")
	p.publish(&packet.Publish{Topic: "rh", QoS: 0, Retain: true, Payload: []byte("r")})
	p.sync() // the QoS 0 message is stored before anyone subscribes
	tests := []struct {
		name   string
		rh     packet.RetainHandling
		first  int
		second int // after subscribing again to the same filter
	}{
		{"0 always", packet.SendRetained, 1, 1},
		{"1 if new", packet.SendRetainedIfNew, 1, 0},
		{"2 never", packet.DoNotSendRetained, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connected(t, addr, packet.V5, "rh-"+tt.name)
			s.subscribe(1, packet.Subscription{Filter: "rh", RetainHandling: tt.rh})
			if got := s.sync(); len(got) != tt.first {
				t.Errorf("first subscribe: %d retained, want %d", len(got), tt.first)
			}
			s.subscribe(2, packet.Subscription{Filter: "rh", RetainHandling: tt.rh})
			if got := s.sync(); len(got) != tt.second {
				t.Errorf("second subscribe: %d retained, want %d", len(got), tt.second)
			}
		})
	}
}

func TestRetainAsPublished(t *testing.T) {
	addr, _ := startServer(t, Options{})
	rap := connected(t, addr, packet.V5, "rap")
	rap.subscribe(1, packet.Subscription{Filter: "rap", RetainAsPublished: true})
	plain := connected(t, addr, packet.V5, "rap-plain")
	plain.subscribe(1, sub("rap", 0))
	p := connected(t, addr, packet.V5, "rap-pub")
	p.publish(&packet.Publish{Topic: "rap", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")})
	if got := recvAs[*packet.Publish](rap); !got.Retain {
		t.Errorf("Retain As Published subscriber got retain=false, want true")
	}
	if got := recvAs[*packet.Publish](plain); got.Retain {
		t.Errorf("plain subscriber got retain=true, want false")
	}
}

func TestRetainedExpired(t *testing.T) {
	addr, s := startServer(t, Options{})
	p := connected(t, addr, packet.V5, "rexp-pub")
	pub := &packet.Publish{Topic: "rexp", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")}
	pub.Props.SetUint(packet.PropMessageExpiry, 1)
	p.publish(pub)
	// Age the stored message instead of sleeping past its expiry.
	s.store.Retained("rexp", func(m *Message) bool {
		m.Expires = m.Expires.Add(-2 * 1e9)
		return true
	})
	c := connected(t, addr, packet.V5, "rexp-sub")
	c.subscribe(1, sub("rexp", 1))
	if got := c.sync(); len(got) != 0 {
		t.Errorf("got %v, want no expired retained message", got)
	}
}

// TestRetainedBeforeLive checks that a message published while a client
// subscribes reaches it after the retained messages of the subscription,
// never before an older retained value, as in mosquitto. The broker is held
// up between adding the subscription and sending the retained message,
// until the live message is acknowledged to its publisher or 300 ms pass.
func TestRetainedBeforeLive(t *testing.T) {
	addr, _ := startServer(t, Options{})
	p := connected(t, addr, packet.V311, "rbl-pub")
	p.publish(&packet.Publish{Topic: "rbl", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("old")})

	added := make(chan struct{})
	acked := make(chan struct{})
	var once sync.Once
	afterSubscribeHook = func() {
		once.Do(func() { close(added) })
		select {
		case <-acked:
		case <-time.After(300 * time.Millisecond): // the publisher waits for the session
		}
	}
	t.Cleanup(func() { afterSubscribeHook = nil })

	s := dial(t, addr, packet.V311)
	s.connect(&packet.Connect{ClientID: "rbl-sub", CleanStart: true})
	s.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub("rbl", 1)}})
	select {
	case <-added:
	case <-time.After(testTimeout):
		t.Fatal("the subscription was not added")
	}
	p.publish(&packet.Publish{Topic: "rbl", QoS: 1, PacketID: 2, Payload: []byte("new")})
	close(acked)

	recvAs[*packet.Suback](s)
	var got []string
	for range 2 {
		pub := recvAs[*packet.Publish](s)
		got = append(got, fmt.Sprintf("%s retain=%v", pub.Payload, pub.Retain))
		s.send(&packet.Puback{PacketID: pub.PacketID})
	}
	want := []string{"old retain=true", "new retain=false"}
	if !slices.Equal(got, want) {
		t.Errorf("subscriber got %q, want %q", got, want)
	}
}

// TestRetainedRace subscribes clients while a publisher keeps replacing a
// retained value: each subscriber must get a retained message first, then
// values that never go back, ending with the last one.
func TestRetainedRace(t *testing.T) {
	addr, _ := startServer(t, Options{MaxQueuedMessages: -1})
	p := connected(t, addr, packet.V311, "race-pub")
	p.publish(&packet.Publish{Topic: "race", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("0")})
	const last, subs = 1000, 20
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 1; i <= last; i++ {
			p.send(&packet.Publish{Topic: "race", Retain: true, Payload: []byte(strconv.Itoa(i))})
		}
		p.sync()
	}()
	var clients []*tc
	for i := range subs {
		c := connected(t, addr, packet.V311, "race-sub-"+strconv.Itoa(i))
		c.subscribe(1, sub("race", 0))
		clients = append(clients, c)
	}
	<-published
	for i, c := range clients {
		prev := -1
		for first := true; prev < last; first = false {
			got := recvAs[*packet.Publish](c)
			v, err := strconv.Atoi(string(got.Payload))
			if err != nil {
				t.Fatalf("subscriber %d: payload %q", i, got.Payload)
			}
			if first && !got.Retain {
				t.Fatalf("subscriber %d: first message %d not retained", i, v)
			}
			if v < prev {
				t.Fatalf("subscriber %d: %d after %d", i, v, prev)
			}
			prev = v
		}
	}
}
