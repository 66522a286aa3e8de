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
				c, err := Dial(context.Background(), Options{URL: url, ClientID: "bench", CleanStart: true, MaxInflight: benchInflight})
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

// BenchmarkReceive measures how fast one client drains messages a server
// pushes as fast as it can (64-byte payload; QoS 1 messages are acknowledged
// by the client).
func BenchmarkReceive(b *testing.B) {
	for _, qos := range []packet.QoS{0, 1} {
		b.Run("qos"+qos.String(), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			n := b.N
			serverDone := make(chan error, 1)
			go func() {
				serverDone <- func() error {
					c, err := ln.Accept()
					if err != nil {
						return err
					}
					defer c.Close()
					br := bufio.NewReaderSize(c, 64<<10)
					if _, err := packet.Read(br, packet.V311, 0); err != nil {
						return err
					}
					bw := bufio.NewWriterSize(c, 64<<10)
					packet.Write(bw, &packet.Connack{}, packet.V311)
					bw.Flush()
					// Drain acks concurrently so neither side blocks.
					acks := make(chan error, 1)
					go func() {
						for {
							p, err := packet.Read(br, packet.V311, 0)
							if err != nil {
								acks <- err
								return
							}
							if _, ok := p.(*packet.Disconnect); ok {
								acks <- nil
								return
							}
						}
					}()
					p := &packet.Publish{Topic: "bench/topic", QoS: qos, Payload: make([]byte, 64)}
					for i := range n {
						if qos > 0 {
							p.PacketID = uint16(i%65535) + 1
						}
						if err := packet.Write(bw, p, packet.V311); err != nil {
							return err
						}
					}
					if err := bw.Flush(); err != nil {
						return err
					}
					return <-acks
				}()
			}()
			var got int
			all := make(chan struct{})
			c, err := Dial(context.Background(), Options{URL: "mqtt://" + ln.Addr().String(), ClientID: "drain", CleanStart: true,
				OnMessage: func(p *packet.Publish) {
					got++
					if got == n {
						close(all)
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			<-all
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msg/s")
			if err := c.Disconnect(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			if err := <-serverDone; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchInflight is the window BenchmarkPublish uses: mosquitto_pub's default.
const benchInflight = 20
