package client

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// startSink runs a server that accepts every connection, drains it and
// acknowledges QoS 1 publishes, for benchmarks.
func startSink(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				bw := bufio.NewWriterSize(c, 64<<10)
				v := packet.V311
				for {
					p, err := packet.Read(br, v, 0)
					if err != nil {
						return
					}
					switch p := p.(type) {
					case *packet.Connect:
						v = p.Version
						packet.Write(bw, &packet.Connack{}, v)
					case *packet.Publish:
						if p.QoS == 1 {
							packet.Write(bw, &packet.Puback{PacketID: p.PacketID}, v)
						}
					case *packet.Disconnect:
						return
					}
					if br.Buffered() == 0 && bw.Flush() != nil {
						return
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	return "mqtt://" + ln.Addr().String()
}

// BenchmarkPublish measures publish throughput of one pipelined publisher
// (PublishAsync, 64-byte payload) against an in-process sink and against
// mosquitto.
func BenchmarkPublish(b *testing.B) {
	targets := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sink", startSink},
		{"mosquitto", func(b *testing.B) string { return startMosquitto(b) }},
	}
	for _, tg := range targets {
		for _, qos := range []packet.QoS{0, 1} {
			b.Run(tg.name+"/qos"+qos.String(), func(b *testing.B) {
				url := tg.url(b)
				c, err := Dial(context.Background(), Options{URL: url, ClientID: "bench", CleanStart: true, MaxInflight: 1000})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				payload := make([]byte, 64)
				var wg sync.WaitGroup
				done := func(err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				}
				p := &packet.Publish{Topic: "bench/topic", QoS: qos, Payload: payload}
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					wg.Add(1)
					if err := c.PublishAsync(context.Background(), p, done); err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
				if err := c.Disconnect(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
			})
		}
	}
}
