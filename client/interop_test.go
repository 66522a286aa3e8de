package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqtool/mqtool/internal/mosquittotest"
	"github.com/mqtool/mqtool/packet"
)

// startMosquitto runs a mosquitto broker on a free loopback port with its
// own config and returns its URL. Without the binary the test is skipped,
// unless MQTOOL_REQUIRE_INTEROP=1.
func startMosquitto(t testing.TB) string {
	t.Helper()
	return mosquittotest.Start(t, mosquittotest.Options{Config: []string{
		"max_inflight_messages 0",
		"max_queued_messages 0",
	}}).URL()
}

// collector gathers messages from OnMessage.
type collector chan *packet.Publish

func (c collector) on(p *packet.Publish) { c <- p }

func (c collector) next(t *testing.T) *packet.Publish {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(fakeTimeout):
		t.Fatal("no message within 5s")
		return nil
	}
}

func mustDial(t *testing.T, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fakeTimeout)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial(%s, %s) = %v", opts.URL, opts.ClientID, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustSubscribe(t *testing.T, c *Client, filter string, qos packet.QoS) {
	t.Helper()
	ack, err := c.Subscribe(context.Background(), &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("Subscribe(%s) = %v", filter, err)
	}
	if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.ReasonCode(qos) {
		t.Fatalf("SUBACK %v, want granted QoS %d", ack.ReasonCodes, qos)
	}
}

func TestInteropMosquitto(t *testing.T) {
	url := startMosquitto(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			ctx := context.Background()
			t.Run("round trip", func(t *testing.T) {
				msgs := make(collector, 10)
				sub := mustDial(t, Options{URL: url, Version: v, ClientID: "sub-rt", CleanStart: true, OnMessage: msgs.on})
				mustSubscribe(t, sub, "rt/#", 2)
				pub := mustDial(t, Options{URL: url, Version: v, ClientID: "pub-rt", CleanStart: true})
				for _, qos := range []packet.QoS{0, 1, 2} {
					payload := fmt.Sprintf("qos %d", qos)
					if err := pub.Publish(ctx, &packet.Publish{Topic: "rt/a", QoS: qos, Payload: []byte(payload)}); err != nil {
						t.Fatalf("Publish QoS %d = %v", qos, err)
					}
					p := msgs.next(t)
					if p.Topic != "rt/a" || p.QoS != qos || string(p.Payload) != payload {
						t.Errorf("got %s qos %d %q, want rt/a qos %d %q", p.Topic, p.QoS, p.Payload, qos, payload)
					}
				}
				if err := pub.Disconnect(ctx, nil); err != nil {
					t.Errorf("Disconnect = %v", err)
				}
				if err := sub.Disconnect(ctx, nil); err != nil {
					t.Errorf("Disconnect = %v", err)
				}
			})
			t.Run("retained", func(t *testing.T) {
				pub := mustDial(t, Options{URL: url, Version: v, ClientID: "pub-ret", CleanStart: true})
				topic := "ret/" + v.String()
				if err := pub.Publish(ctx, &packet.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
					t.Fatal(err)
				}
				msgs := make(collector, 10)
				sub := mustDial(t, Options{URL: url, Version: v, ClientID: "sub-ret", CleanStart: true, OnMessage: msgs.on})
				mustSubscribe(t, sub, topic, 1)
				p := msgs.next(t)
				if !p.Retain || string(p.Payload) != "kept" {
					t.Errorf("got retain %v %q, want retained %q", p.Retain, p.Payload, "kept")
				}
				// A zero-length retained message clears it.
				if err := pub.Publish(ctx, &packet.Publish{Topic: topic, QoS: 1, Retain: true}); err != nil {
					t.Fatal(err)
				}
				p = msgs.next(t) // the live delivery of the clearing message
				if len(p.Payload) != 0 {
					t.Errorf("clearing message payload %q", p.Payload)
				}
				sub2msgs := make(collector, 10)
				sub2 := mustDial(t, Options{URL: url, Version: v, ClientID: "sub-ret2", CleanStart: true, OnMessage: sub2msgs.on})
				mustSubscribe(t, sub2, topic, 1)
				// A QoS 1 round trip after SUBACK proves no retained message came.
				mustSubscribe(t, sub2, "ret-probe/"+v.String(), 1)
				if err := pub.Publish(ctx, &packet.Publish{Topic: "ret-probe/" + v.String(), QoS: 1, Payload: []byte("probe")}); err != nil {
					t.Fatal(err)
				}
				if p := sub2msgs.next(t); p.Topic != "ret-probe/"+v.String() {
					t.Errorf("got %s %q after clearing, want only the probe", p.Topic, p.Payload)
				}
				pub.Disconnect(ctx, nil)
				sub.Disconnect(ctx, nil)
				sub2.Disconnect(ctx, nil)
			})
			t.Run("will on Close", func(t *testing.T) {
				msgs := make(collector, 10)
				sub := mustDial(t, Options{URL: url, Version: v, ClientID: "sub-will", CleanStart: true, OnMessage: msgs.on})
				topic := "will/" + v.String()
				mustSubscribe(t, sub, topic, 1)
				w := mustDial(t, Options{URL: url, Version: v, ClientID: "dies", CleanStart: true,
					Will: &packet.Will{Topic: topic, QoS: 1, Payload: []byte("gone")}})
				w.Close()
				if p := msgs.next(t); p.Topic != topic || string(p.Payload) != "gone" {
					t.Errorf("got %s %q, want will %s gone", p.Topic, p.Payload, topic)
				}
				// After Disconnect no will is sent: prove it with a probe message.
				w2 := mustDial(t, Options{URL: url, Version: v, ClientID: "leaves", CleanStart: true,
					Will: &packet.Will{Topic: topic, QoS: 1, Payload: []byte("not sent")}})
				if err := w2.Disconnect(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if err := sub.Publish(ctx, &packet.Publish{Topic: topic, QoS: 1, Payload: []byte("probe")}); err != nil {
					t.Fatal(err)
				}
				if p := msgs.next(t); string(p.Payload) != "probe" {
					t.Errorf("got %q after a clean Disconnect, want the probe", p.Payload)
				}
				sub.Disconnect(ctx, nil)
			})
		})
	}
	t.Run("5.0/topic alias", func(t *testing.T) {
		msgs := make(collector, 10)
		sub := mustDial(t, Options{URL: url, Version: packet.V5, ClientID: "sub-alias", CleanStart: true, OnMessage: msgs.on})
		mustSubscribe(t, sub, "alias/#", 1)
		pub := mustDial(t, Options{URL: url, Version: packet.V5, ClientID: "pub-alias", CleanStart: true})
		if pub.Connack().Props.TopicAliasMaximum == 0 {
			t.Fatal("mosquitto announced no topic aliases")
		}
		for i := range 3 {
			p := &packet.Publish{Topic: "alias/long/topic", QoS: 1, Payload: []byte{'0' + byte(i)}}
			p.Props.SetUint(packet.PropTopicAlias, 1)
			if err := pub.Publish(context.Background(), p); err != nil {
				t.Fatalf("Publish %d = %v", i, err)
			}
			if got := msgs.next(t); got.Topic != "alias/long/topic" || got.Payload[0] != '0'+byte(i) {
				t.Errorf("got %s %q, want alias/long/topic %d", got.Topic, got.Payload, i)
			}
		}
		pub.Disconnect(context.Background(), nil)
		sub.Disconnect(context.Background(), nil)
	})
	t.Run("3.1.1/pipelined QoS 1", func(t *testing.T) {
		// mosquitto holds small writes for Nagle's algorithm: a publisher
		// that refills its window in bursts stalls 40 ms a round (about
		// 500 messages a second); one that refills per PUBACK does not.
		const n = 5000
		c := mustDial(t, Options{URL: url, ClientID: "pipe", CleanStart: true, MaxInflight: 20})
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Add(1)
			err := c.PublishAsync(context.Background(), &packet.Publish{Topic: "pipe", QoS: 1, Payload: []byte{byte(i)}}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%d pipelined QoS 1 publishes took %v, want well under 5s", n, d)
		}
		c.Disconnect(context.Background(), nil)
	})
	t.Run("3.1/refused", func(t *testing.T) {
		_, err := Dial(context.Background(), Options{URL: url, Version: packet.V31, ClientID: ""})
		ce, ok := err.(*ConnectError)
		if !ok || ce.Code() != 2 {
			t.Errorf("Dial with an empty 3.1 client id = %v, want refusal code 2", err)
		}
	})
}
