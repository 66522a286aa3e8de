package broker

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// TestPacketLines checks the packet log against the lines mosquitto 2.0.11
// -v wrote for the same packets (captured with mosquitto_pub and
// mosquitto_sub: QoS 0, 1 and 2, a will, SUBSCRIBE and UNSUBSCRIBE).
func TestPacketLines(t *testing.T) {
	tests := []struct {
		name     string
		received bool
		p        packet.Packet
		want     []string
		v        packet.Version // 3.1.1 when zero
	}{
		{"PUBLISH in, QoS 0", true, &packet.Publish{Topic: "a/0", Payload: []byte("zero")},
			[]string{"Received PUBLISH from C (d0, q0, r0, m0, 'a/0', ... (4 bytes))"}, 0},
		{"PUBLISH in, QoS 1 retained", true, &packet.Publish{QoS: 1, Retain: true, PacketID: 1, Topic: "a/1", Payload: []byte("one")},
			[]string{"Received PUBLISH from C (d0, q1, r1, m1, 'a/1', ... (3 bytes))"}, 0},
		{"PUBLISH out, QoS 2", false, &packet.Publish{QoS: 2, PacketID: 2, Topic: "a/2", Payload: []byte("two")},
			[]string{"Sending PUBLISH to C (d0, q2, r0, m2, 'a/2', ... (3 bytes))"}, 0},
		{"PUBLISH out, duplicate", false, &packet.Publish{Dup: true, QoS: 1, PacketID: 7, Topic: "t", Payload: nil},
			[]string{"Sending PUBLISH to C (d1, q1, r0, m7, 't', ... (0 bytes))"}, 0},
		{"CONNACK", false, &packet.Connack{}, []string{"Sending CONNACK to C (0, 0)"}, 0},
		{"CONNACK session present", false, &packet.Connack{SessionPresent: true}, []string{"Sending CONNACK to C (1, 0)"}, 0},
		{"PUBACK out", false, &packet.Puback{PacketID: 1}, []string{"Sending PUBACK to C (m1, rc0)"}, 0},
		{"PUBACK in", true, &packet.Puback{PacketID: 1}, []string{"Received PUBACK from C (Mid: 1, RC:0)"}, 0},
		{"PUBREC out", false, &packet.Pubrec{PacketID: 1}, []string{"Sending PUBREC to C (m1, rc0)"}, 0},
		{"PUBREC in", true, &packet.Pubrec{PacketID: 2}, []string{"Received PUBREC from C (Mid: 2)"}, 0},
		{"PUBREL in", true, &packet.Pubrel{PacketID: 1}, []string{"Received PUBREL from C (Mid: 1)"}, 0},
		{"PUBREL out", false, &packet.Pubrel{PacketID: 2}, []string{"Sending PUBREL to C (m2)"}, 0},
		{"PUBCOMP out", false, &packet.Pubcomp{PacketID: 1}, []string{"Sending PUBCOMP to C (m1)"}, 0},
		{"PUBCOMP in", true, &packet.Pubcomp{PacketID: 2}, []string{"Received PUBCOMP from C (Mid: 2, RC:0)"}, 0},
		{"SUBSCRIBE", true, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}, {Filter: "b", QoS: 2}}},
			[]string{"Received SUBSCRIBE from C", "\ta/# (QoS 2)", "\tb (QoS 2)"}, 0},
		{"SUBACK", false, &packet.Suback{PacketID: 1}, []string{"Sending SUBACK to C"}, 0},
		{"UNSUBSCRIBE", true, &packet.Unsubscribe{PacketID: 1, Filters: []string{"a/#"}},
			[]string{"Received UNSUBSCRIBE from C", "\ta/#"}, 0},
		{"UNSUBACK", false, &packet.Unsuback{PacketID: 1}, []string{"Sending UNSUBACK to C"}, 0},
		{"PINGREQ", true, &packet.Pingreq{}, []string{"Received PINGREQ from C"}, 0},
		{"PINGRESP", false, &packet.Pingresp{}, []string{"Sending PINGRESP to C"}, 0},
		{"DISCONNECT in", true, &packet.Disconnect{}, []string{"Received DISCONNECT from C"}, 0},
		{"DISCONNECT out", false, &packet.Disconnect{ReasonCode: packet.ServerShuttingDown}, []string{"Sending DISCONNECT to C (rc139)"}, 0},
		{"CONNECT is logged as a new client instead", true, &packet.Connect{ClientID: "C"}, nil, 0},
		{"CONNACK refused at 3.1.1: the wire's return code", false, &packet.Connack{ReasonCode: packet.ClientIdentifierNotValid},
			[]string{"Sending CONNACK to C (0, 2)"}, packet.V311},
		{"CONNACK refused at 5", false, &packet.Connack{ReasonCode: packet.ClientIdentifierNotValid},
			[]string{"Sending CONNACK to C (0, 133)"}, packet.V5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			if v == 0 {
				v = packet.V311
			}
			got := packetLines(tt.received, v, "C", tt.p)
			if pub, ok := tt.p.(*packet.Publish); ok {
				if got != nil {
					t.Errorf("packetLines(%v, %+v) = %q, want nil: logPublish logs PUBLISH", tt.received, tt.p, got)
				}
				verb := publishSent
				if tt.received {
					verb = publishReceived
				}
				got = []string{publishLine(verb, "C", pub, pub.Topic)}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines for %v %+v = %q, want %q", tt.received, tt.p, got, tt.want)
			}
		})
	}
	if got, want := willLines(nil), []string{"No will message specified."}; !slices.Equal(got, want) {
		t.Errorf("willLines(nil) = %q, want %q", got, want)
	}
	w := &packet.Will{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true}
	if got, want := willLines(w), []string{"Will message specified (3 bytes) (r1, q1).", "\tw"}; !slices.Equal(got, want) {
		t.Errorf("willLines(%+v) = %q, want %q", w, got, want)
	}
}

// TestPacketLog checks that a server logging at LogDebug logs the packets
// of a QoS 1 exchange in order, and that one at LogInfo does not.
func TestPacketLog(t *testing.T) {
	for _, level := range []LogLevel{LogDebug, LogInfo} {
		t.Run(level.String(), func(t *testing.T) {
			l := &logs{}
			addr, _ := startServer(t, Options{Log: l.log, LogLevel: level})
			c := connected(t, addr, packet.V311, "pl")
			c.subscribe(1, sub("pl/t", 1))
			c.send(&packet.Publish{Topic: "pl/t", QoS: 1, PacketID: 5, Payload: []byte("hi")})
			for range 2 { // the message back and the PUBACK, in either order
				if p, ok := c.recv().(*packet.Publish); ok {
					c.send(&packet.Puback{PacketID: p.PacketID})
				}
			}
			c.sync()
			want := []string{
				"New client connected from ",
				"No will message specified.",
				"Sending CONNACK to pl (0, 0)",
				"Received SUBSCRIBE from pl",
				"\tpl/t (QoS 1)",
				"Sending SUBACK to pl",
				"Received PUBLISH from pl (d0, q1, r0, m5, 'pl/t', ... (2 bytes))",
				"Sending PUBLISH to pl (d0, q1, r0, m1, 'pl/t', ... (2 bytes))",
				"Sending PUBACK to pl (m5, rc0)",
				"Received PUBACK from pl (Mid: 1, RC:0)",
				"Received PINGREQ from pl",
				"Sending PINGRESP to pl",
			}
			lines := l.snapshot()
			at := 0
			for _, line := range lines {
				if at < len(want) && strings.HasPrefix(line, want[at]) {
					at++
				}
			}
			if level == LogDebug && at != len(want) {
				t.Errorf("log lacks %q (or has it out of order):\n%s", want[at], strings.Join(lines, "\n"))
			}
			for _, line := range lines {
				if level == LogInfo && (strings.HasPrefix(line, "Received ") || strings.HasPrefix(line, "Sending ")) {
					t.Errorf("LogInfo logged a packet: %q", line)
				}
			}
		})
	}
}

// TestPacketLogNames checks the names and topics the packet log uses where
// the packet alone does not say: a refused client is named by the client
// id its CONNECT asked for, and a PUBLISH that uses a Topic Alias by the
// topic behind it.
func TestPacketLogNames(t *testing.T) {
	l := &logs{}
	addr, _ := startServer(t, Options{Log: l.log, LogLevel: LogDebug, MaxTopicAlias: 5})
	r := dial(t, addr, packet.V311)
	ack := r.connect(&packet.Connect{ClientID: "", CleanStart: false})
	if ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %v, want identifier rejected", ack.ReasonCode)
	}
	r2 := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "named"}
	cp.Props.SetString(packet.PropAuthMethod, "SCRAM-SHA-1") // no enhanced authentication here
	if ack := r2.connect(cp); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v, want bad authentication method", ack.ReasonCode)
	}
	c := dial(t, addr, packet.V5)
	cp = &packet.Connect{ClientID: "al", CleanStart: true}
	cp.Props.SetUint(packet.PropTopicAliasMaximum, 5) // so the server sends the second with an alias too
	c.connect(cp)
	c.subscribe(1, sub("al/t", 0))
	first := &packet.Publish{Topic: "al/t", Payload: []byte("1")}
	first.Props.SetUint(packet.PropTopicAlias, 1)
	c.send(first)
	recvAs[*packet.Publish](c)
	second := &packet.Publish{Payload: []byte("2")}
	second.Props.SetUint(packet.PropTopicAlias, 1)
	c.send(second)
	if got := recvAs[*packet.Publish](c); got.Topic != "" {
		t.Errorf("second message came with topic %q, want only its alias", got.Topic)
	}
	c.sync()
	lines := l.snapshot()
	for _, tt := range []struct {
		line string
		n    int
	}{
		{"Sending CONNACK to 127.0.0.1 (0, 2)", 1},
		{"Sending CONNACK to named (0, 140)", 1},
		{"Received PUBLISH from al (d0, q0, r0, m0, 'al/t', ... (1 bytes))", 2},
		{"Sending PUBLISH to al (d0, q0, r0, m0, 'al/t', ... (1 bytes))", 2},
	} {
		if n := countLines(lines, tt.line); n != tt.n {
			t.Errorf("log has %q %d times, want %d:\n%s", tt.line, n, tt.n, strings.Join(lines, "\n"))
		}
	}
}

func countLines(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}
