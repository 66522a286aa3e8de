package packet

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

type benchPacket struct {
	name string
	v    Version
	p    Packet
}

func benchPackets() []benchPacket {
	payload64 := bytes.Repeat([]byte{'x'}, 64)
	payload4k := bytes.Repeat([]byte{'x'}, 4096)
	subs := make([]Subscription, 10)
	for i := range subs {
		subs[i] = Subscription{Filter: fmt.Sprintf("sensors/building-%d/+/temperature", i), QoS: QoS(i % 3), NoLocal: i%2 == 0, RetainHandling: SendRetainedIfNew}
	}
	return []benchPacket{
		{"PUBLISH/64B/QoS0", V311, &Publish{Topic: "sensors/building-1/floor-2/temperature", Payload: payload64}},
		{"PUBLISH/64B/QoS1", V311, &Publish{QoS: AtLeastOnce, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature", Payload: payload64}},
		{"PUBLISH/4KiB/QoS0", V311, &Publish{Topic: "sensors/building-1/floor-2/temperature", Payload: payload4k}},
		{"PUBLISH/4KiB/QoS1", V311, &Publish{QoS: AtLeastOnce, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature", Payload: payload4k}},
		{"PUBLISH/64B/QoS1/v5-properties", V5, &Publish{QoS: AtLeastOnce, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature",
			Payload: payload64, Props: props(PropMessageExpiry, 60, PropContentType, "application/json", PropUser, "trace=abc123")}},
		{"CONNECT/v5-properties", V5, &Connect{Version: V5, CleanStart: true, KeepAlive: 60, ClientID: "mqtool-bench-000001",
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret"),
			Props: props(PropSessionExpiry, 3600, PropReceiveMaximum, 100, PropMaximumPacketSize, 1<<20,
				PropTopicAliasMaximum, 10, PropRequestProblemInfo, 1, PropUser, "app=bench"),
			Will: &Will{Topic: "clients/mqtool-bench-000001/status", Payload: []byte("offline"), QoS: AtLeastOnce, Retain: true,
				Props: props(PropWillDelay, 5, PropPayloadFormat, 1)}}},
		{"SUBSCRIBE/10-filters", V5, &Subscribe{PacketID: 7, Props: props(PropSubscriptionID, 9), Subscriptions: subs}},
	}
}

func BenchmarkRead(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			data, err := Append(nil, bp.p, bp.v)
			if err != nil {
				b.Fatal(err)
			}
			r := bytes.NewReader(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				if _, err := Read(r, bp.v, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			n, err := Size(bp.p, bp.v)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := Write(io.Discard, bp.p, bp.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Append(buf[:0], bp.p, bp.v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// TestAppendZeroAllocs: encoding into a buffer with room allocates nothing.
func TestAppendZeroAllocs(t *testing.T) {
	var cases []benchPacket
	cases = append(cases, benchPackets()...)
	for _, v := range versions {
		for _, c := range roundTripCases(v) {
			cases = append(cases, benchPacket{v.String() + "/" + c.name, v, c.p})
		}
	}
	buf := make([]byte, 0, 8192)
	for _, c := range cases {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if buf, err = Append(buf[:0], c.p, c.v); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Append(%s) into a reused buffer: %v allocs/op, want 0", c.name, allocs)
		}
	}
}
