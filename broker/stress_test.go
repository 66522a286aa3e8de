package broker

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// TestTakeoverStorm connects many clients with one client id at once while
// messages flow to that session; the server neither deadlocks nor races and
// keeps serving.
func TestTakeoverStorm(t *testing.T) {
	addr, _ := startServer(t, Options{})
	p := connected(t, addr, packet.V5, "storm-pub")
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := packet.Write(p.nc, &packet.Publish{Topic: "storm", QoS: packet.QoS(i % 3), PacketID: uint16(i%100 + 1),
				Payload: []byte("x")}, p.v); err != nil {
				return
			}
		}
	}()
	// Drain the publisher's acknowledgements so its socket never fills;
	// PUBREC is answered with PUBREL.
	go func() {
		for {
			p.nc.SetReadDeadline(time.Now().Add(testTimeout))
			pk, err := packet.Read(p.br, p.v, 0)
			if err != nil {
				return
			}
			if rec, ok := pk.(*packet.Pubrec); ok {
				select {
				case <-stop:
				default:
					packet.Write(p.nc, &packet.Pubrel{PacketID: rec.PacketID}, p.v)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				v := []packet.Version{packet.V311, packet.V5}[(g+i)%2]
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				cp := &packet.Connect{Version: v, ClientID: "storm", CleanStart: i%3 == 0, KeepAlive: 5,
					Will: &packet.Will{Topic: "storm/will", Payload: []byte("w"), QoS: 1}}
				if v == packet.V5 {
					cp.Props.SetUint(packet.PropSessionExpiry, 30)
				}
				packet.Write(nc, cp, v)
				packet.Write(nc, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub("storm", 2)}}, v)
				br := bufio.NewReader(nc)
				nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				for {
					if _, err := packet.Read(br, v, 0); err != nil {
						break
					}
				}
				nc.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-pubDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The server still works.
	c := connected(t, addr, packet.V5, "storm-after")
	c.subscribe(1, sub("after", 0))
	q := connected(t, addr, packet.V5, "storm-after-pub")
	q.publish(&packet.Publish{Topic: "after", QoS: 1, PacketID: 1, Payload: []byte("ok")})
	if got := recvAs[*packet.Publish](c); string(got.Payload) != "ok" {
		t.Errorf("after the storm got %q, want ok", got.Payload)
	}
}
