package broker

import (
	"fmt"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// TestQoSRoundTrip publishes at each QoS to a subscriber at each QoS and
// checks the delivered QoS is the smaller one and the flows complete.
func TestQoSRoundTrip(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for pq := packet.QoS(0); pq <= 2; pq++ {
			for sq := packet.QoS(0); sq <= 2; sq++ {
				t.Run(fmt.Sprintf("%s pub%d sub%d", v, pq, sq), func(t *testing.T) {
					topic := fmt.Sprintf("qos/%s/%d/%d", v, pq, sq)
					s := connected(t, addr, v, "s-"+topic)
					if ack := s.subscribe(1, sub(topic, sq)); ack.ReasonCodes[0] != packet.ReasonCode(sq) {
						t.Fatalf("SUBACK %v, want granted %d", ack.ReasonCodes, sq)
					}
					p := connected(t, addr, v, "p-"+topic)
					p.publish(&packet.Publish{Topic: topic, QoS: pq, PacketID: 7, Payload: []byte("m")})
					got := recvAs[*packet.Publish](s)
					want := min(pq, sq)
					if got.QoS != want || string(got.Payload) != "m" || got.Topic != topic {
						t.Fatalf("delivered %+v, want QoS %d payload m on %s", got, want, topic)
					}
					if want > 0 && got.PacketID == 0 {
						t.Errorf("packet id 0 at QoS %d", want)
					}
					switch want {
					case 1:
						s.send(&packet.Puback{PacketID: got.PacketID})
					case 2:
						rel := (func() *packet.Pubrel {
							s.send(&packet.Pubrec{PacketID: got.PacketID})
							return recvAs[*packet.Pubrel](s)
						})()
						if rel.PacketID != got.PacketID {
							t.Errorf("PUBREL id %d, want %d", rel.PacketID, got.PacketID)
						}
						s.send(&packet.Pubcomp{PacketID: got.PacketID})
					}
					if extra := s.sync(); len(extra) != 0 {
						t.Errorf("unexpected packets %v", extra)
					}
				})
			}
		}
	}
}

func TestInboundQoS2ExactlyOnce(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V311, "eo-sub")
	s.subscribe(1, sub("eo", 0))
	p := connected(t, addr, packet.V311, "eo-pub")
	pub := &packet.Publish{Topic: "eo", QoS: 2, PacketID: 9, Payload: []byte("once")}
	p.send(pub)
	recvAs[*packet.Pubrec](p)
	pub.Dup = true
	p.send(pub) // re-sent before PUBREL: must not be delivered again
	recvAs[*packet.Pubrec](p)
	p.send(&packet.Pubrel{PacketID: 9})
	recvAs[*packet.Pubcomp](p)
	got := append([]packet.Packet{}, s.sync()...)
	if len(got) != 1 {
		t.Fatalf("subscriber got %d packets %v, want exactly one PUBLISH", len(got), got)
	}
	// After PUBCOMP the id is free: the same id is a new message.
	pub.Dup = false
	p.publish(pub)
	if got := s.sync(); len(got) != 1 {
		t.Errorf("second message with the reused id: got %v, want one PUBLISH", got)
	}
}

func TestPacketIDAllocation(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V311, "ids")
	s.subscribe(1, sub("ids", 1))
	p := connected(t, addr, packet.V311, "ids-pub")
	seen := map[uint16]bool{}
	for i := range 10 {
		p.publish(&packet.Publish{Topic: "ids", QoS: 1, PacketID: 1, Payload: []byte{byte(i)}})
		got := recvAs[*packet.Publish](s)
		if got.PacketID == 0 || seen[got.PacketID] {
			t.Fatalf("message %d: packet id %d reused or zero while inflight (seen %v)", i, got.PacketID, seen)
		}
		seen[got.PacketID] = true
	}
}

// TestInflightWindow checks the outbound window is the smaller of
// max-inflight-messages and the client's Receive Maximum, and that the
// queue drains in order as acknowledgements arrive.
func TestInflightWindow(t *testing.T) {
	tests := []struct {
		name       string
		maxInfl    int
		receiveMax uint16
		want       int
	}{
		{"server limit", 3, 0, 3},
		{"client receive maximum", 20, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := startServer(t, Options{MaxInflightMessages: tt.maxInfl})
			s := dial(t, addr, packet.V5)
			cp := &packet.Connect{ClientID: "win", CleanStart: true}
			if tt.receiveMax > 0 {
				cp.Props.SetUint(packet.PropReceiveMaximum, uint64(tt.receiveMax))
			}
			s.connect(cp)
			s.subscribe(1, sub("win", 1))
			p := connected(t, addr, packet.V5, "win-pub")
			for i := range 6 {
				p.publish(&packet.Publish{Topic: "win", QoS: 1, PacketID: 1, Payload: []byte{byte(i)}})
			}
			got := s.sync()
			if len(got) != tt.want {
				t.Fatalf("got %d PUBLISH before any PUBACK, want %d", len(got), tt.want)
			}
			next := byte(0)
			for next < 6 {
				for _, g := range got {
					pub := g.(*packet.Publish)
					if pub.Payload[0] != next {
						t.Fatalf("payload %d, want %d (order)", pub.Payload[0], next)
					}
					next++
					s.send(&packet.Puback{PacketID: pub.PacketID})
				}
				got = s.sync()
			}
		})
	}
}

func TestQoSDowngrade(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V5, "dg")
	s.subscribe(1, sub("dg/#", 0))
	p := connected(t, addr, packet.V5, "dg-pub")
	p.publish(&packet.Publish{Topic: "dg/a", QoS: 2, PacketID: 3, Payload: []byte("x")})
	if got := recvAs[*packet.Publish](s); got.QoS != 0 {
		t.Errorf("delivered at QoS %d, want 0 (subscription's)", got.QoS)
	}
}
