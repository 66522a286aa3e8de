package broker

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// BenchmarkTopicTreeMatch matches topic names against 10,000 subscriptions:
// 9,000 exact filters, 900 with '+' and 100 with '#'.
func BenchmarkTopicTreeMatch(b *testing.B) {
	var tree topicTree
	for i := range 10000 {
		ss := newSession(nil, fmt.Sprint(i))
		var f string
		switch {
		case i < 9000:
			f = fmt.Sprintf("site/%d/dev/%d/temp", i%100, i)
		case i < 9900:
			f = fmt.Sprintf("site/%d/dev/+/temp", i%100)
		default:
			f = fmt.Sprintf("site/%d/#", i%100)
		}
		tree.add(ss, Subscription{Filter: f})
	}
	topics := make([]string, 1000)
	for i := range topics {
		topics[i] = fmt.Sprintf("site/%d/dev/%d/temp", (i*9)%100, i*9)
	}
	dst := make([]match, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := range b.N {
		dst = tree.match(topics[i%len(topics)], dst[:0])
		n += len(dst)
	}
	if n == 0 {
		b.Fatal("no matches")
	}
}

// BenchmarkPublishDeliver measures one publisher to one subscriber through
// the broker over loopback TCP, 64-byte payloads, with mosquitto's default
// inflight window of 20 and no queue limit. MQTOOL_BENCH_ADDR=host:port runs
// the same load against another broker, e.g. mosquitto with
// max_queued_messages 0, for comparison.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, qos := range []packet.QoS{0, 1, 2} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			addr := os.Getenv("MQTOOL_BENCH_ADDR")
			if addr == "" {
				addr, _ = startServer(b, Options{MaxQueuedMessages: -1})
			}
			s := connected(b, addr, packet.V5, "bench-sub")
			s.subscribe(1, sub("bench", qos))
			p := dial(b, addr, packet.V5)
			ack := p.connect(&packet.Connect{ClientID: "bench-pub", CleanStart: true})
			inflight := 500
			if ack.Props.Has(packet.PropReceiveMaximum) {
				inflight = min(inflight, int(ack.Props.ReceiveMaximum))
			}
			payload := make([]byte, 64)
			done := make(chan error, 1)
			go func() {
				sw := bufio.NewWriter(s.nc)
				for i := 0; i < b.N; i++ {
					pk, err := packet.Read(s.br, s.v, 0)
					if err != nil {
						done <- err
						return
					}
					switch pk := pk.(type) {
					case *packet.Publish:
						if pk.QoS == 1 {
							packet.Write(sw, &packet.Puback{PacketID: pk.PacketID}, s.v)
						} else if pk.QoS == 2 {
							packet.Write(sw, &packet.Pubrec{PacketID: pk.PacketID}, s.v)
						}
					case *packet.Pubrel:
						packet.Write(sw, &packet.Pubcomp{PacketID: pk.PacketID}, s.v)
						i--
					}
					if s.br.Buffered() == 0 {
						sw.Flush()
					}
				}
				sw.Flush()
				done <- nil
			}()
			// The publisher keeps at most the broker's Receive Maximum (or
			// 500) QoS 1/2 messages unacknowledged; writes share a lock with
			// the PUBREL answers.
			var wmu sync.Mutex
			w := bufio.NewWriter(p.nc)
			window := make(chan struct{}, inflight)
			acks := make(chan error, 1)
			go func() {
				if qos == 0 {
					acks <- nil
					return
				}
				for n := 0; n < b.N; {
					pk, err := packet.Read(p.br, p.v, 0)
					if err != nil {
						acks <- err
						return
					}
					switch pk := pk.(type) {
					case *packet.Puback, *packet.Pubcomp:
						n++
						<-window
					case *packet.Pubrec:
						wmu.Lock()
						packet.Write(w, &packet.Pubrel{PacketID: pk.PacketID}, p.v)
						w.Flush()
						wmu.Unlock()
					}
				}
				acks <- nil
			}()
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if qos > 0 {
					select {
					case window <- struct{}{}:
					default:
						wmu.Lock()
						w.Flush()
						wmu.Unlock()
						window <- struct{}{}
					}
				}
				id := uint16(i%60000 + 1)
				wmu.Lock()
				err := packet.Write(w, &packet.Publish{Topic: "bench", QoS: qos, PacketID: id, Payload: payload}, p.v)
				if i%64 == 63 {
					w.Flush()
				}
				wmu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
			wmu.Lock()
			w.Flush()
			wmu.Unlock()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if err := <-acks; err != nil {
				b.Fatal(err)
			}
		})
	}
}
