package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReadHugeBodyAllocatesAsBytesArrive proves that a peer announcing the
// largest remaining length and sending only a few bytes cannot make Read
// allocate the announced size.
func TestReadHugeBodyAllocatesAsBytesArrive(t *testing.T) {
	hdr := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F} // PUBLISH, remaining length 268,435,455
	in := append(hdr, make([]byte, 1000)...)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, err := Read(bytes.NewReader(in), V311, 0)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				b.Fatalf("Read(huge header + 1000 bytes) error = %v, want io.ErrUnexpectedEOF", err)
			}
		}
	})
	if got := allocs.AllocedBytesPerOp(); got > 1<<20 {
		t.Errorf("Read(huge header + 1000 bytes) allocated %d bytes per call, want at most 1 MiB", got)
	}
}

// TestReadLargePublish round-trips a PUBLISH larger than the growth threshold.
func TestReadLargePublish(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
	var buf bytes.Buffer
	if err := Write(&buf, &Publish{QoS: 1, PacketID: 9, Topic: "big", Payload: payload}, V5); err != nil {
		t.Fatal(err)
	}
	p, err := Read(&buf, V5, 0)
	if err != nil {
		t.Fatalf("Read(large PUBLISH) error = %v", err)
	}
	got := p.(*Publish)
	if got.Topic != "big" || got.PacketID != 9 || !bytes.Equal(got.Payload, payload) {
		t.Errorf("Read(large PUBLISH) = topic %q id %d payload %d bytes, want big 9 %d bytes", got.Topic, got.PacketID, len(got.Payload), len(payload))
	}
}
