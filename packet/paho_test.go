package packet

import (
	"bytes"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/google/go-cmp/cmp"
)

// pahoPublish is a 64-byte QoS 1 PUBLISH at 3.1.1, the packet both codecs
// decode and re-encode in BenchmarkVersusPaho.
func pahoPublish(t testing.TB) []byte {
	p := paho.NewControlPacket(paho.Publish).(*paho.PublishPacket)
	p.Qos = 1
	p.MessageID = 42
	p.TopicName = "sensors/building-1/floor-2/temperature"
	p.Payload = bytes.Repeat([]byte{'x'}, 64)
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPahoAgrees checks that the benchmark compares like with like: both
// codecs read paho's bytes and write exactly those bytes back.
func TestPahoAgrees(t *testing.T) {
	data := pahoPublish(t)
	p, err := Read(bytes.NewReader(data), V311, 0)
	if err != nil {
		t.Fatalf("Read(% x) error: %v", data, err)
	}
	want := &Publish{QoS: AtLeastOnce, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature", Payload: bytes.Repeat([]byte{'x'}, 64)}
	if diff := cmp.Diff(want, p, cmpOpts...); diff != "" {
		t.Errorf("Read(paho bytes) mismatch (-want +got):\n%s", diff)
	}
	var ours bytes.Buffer
	if err := Write(&ours, p, V311); err != nil || !bytes.Equal(ours.Bytes(), data) {
		t.Errorf("Write = % x, %v; paho wrote % x", ours.Bytes(), err, data)
	}
}

// BenchmarkVersusPaho decodes and re-encodes a 64-byte QoS 1 PUBLISH at
// 3.1.1 with mqtool's codec and with paho.mqtt.golang/packets.
func BenchmarkVersusPaho(b *testing.B) {
	data := pahoPublish(b)
	b.Run("mqtool", func(b *testing.B) {
		r := bytes.NewReader(data)
		var out bytes.Buffer
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(data)
			out.Reset()
			p, err := Read(r, V311, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := Write(&out, p, V311); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho", func(b *testing.B) {
		r := bytes.NewReader(data)
		var out bytes.Buffer
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(data)
			out.Reset()
			p, err := paho.ReadPacket(r)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Write(&out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
