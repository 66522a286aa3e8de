package packet

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestV31ResentFlags: MQTT 3.1 sets DUP on a resent PUBREL, SUBSCRIBE or
// UNSUBSCRIBE and leaves CONNECT flag bit 0 unused; 3.1.1 and 5.0 reserve
// these bits (see TestMalformed).
func TestV31ResentFlags(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Packet
	}{
		{"PUBREL DUP", pk(0x6A, 0, 5), &Pubrel{PacketID: 5}},
		{"SUBSCRIBE DUP", pk(0x8A, 0, 5, str("a"), 1), &Subscribe{PacketID: 5, Subscriptions: []Subscription{{Filter: "a", QoS: 1}}}},
		{"UNSUBSCRIBE DUP", pk(0xAA, 0, 5, str("a")), &Unsubscribe{PacketID: 5, Filters: []string{"a"}}},
		{"CONNECT unused flag bit 0", pk(0x10, connectHead("MQIsdp", 3, 0x03), str("c")),
			&Connect{ProtocolName: "MQIsdp", Version: V31, CleanStart: true, KeepAlive: 60, ClientID: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tt.in), V31, 0)
			if err != nil {
				t.Fatalf("Read(% x, 3.1) error: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
				t.Errorf("Read(% x, 3.1) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if tt.want.Type() == CONNECT {
				return // the level is the CONNECT's own; 3.1.1 is in TestMalformed
			}
			if _, err := Read(bytes.NewReader(tt.in), V311, 0); !errors.Is(err, MalformedPacket) {
				t.Errorf("Read(% x, 3.1.1) error %v, want %v", tt.in, err, MalformedPacket)
			}
		})
	}
}

// TestConnackV31SessionPresent: a 3.1 CONNACK's first byte is unused, so a
// set bit must not decode to a flag that Write at 3.1 then drops.
func TestConnackV31SessionPresent(t *testing.T) {
	in := []byte{0x20, 0x02, 0x01, 0x00}
	got, err := Read(bytes.NewReader(in), V31, 0)
	if err != nil {
		t.Fatalf("Read(% x, 3.1) error: %v", in, err)
	}
	if diff := cmp.Diff(&Connack{}, got, cmpOpts...); diff != "" {
		t.Errorf("Read(% x, 3.1) mismatch (-want +got):\n%s", in, diff)
	}
}

// TestEncodeTooLong: a field over 65,535 bytes cannot be written with its
// two-byte length; Append must fail instead of writing a truncated length.
func TestEncodeTooLong(t *testing.T) {
	long := strings.Repeat("a", 0x10000)
	tests := []struct {
		name  string
		v     Version
		p     Packet
		field string
	}{
		{"PUBLISH topic", V311, &Publish{Topic: long}, "PUBLISH topic name"},
		{"CONNECT client identifier", V311, &Connect{Version: V311, ClientID: long}, "CONNECT client identifier"},
		{"CONNECT password", V5, &Connect{Version: V5, Password: []byte(long)}, "CONNECT password"},
		{"CONNECT will payload", V311, &Connect{Version: V311, Will: &Will{Topic: "w", Payload: []byte(long)}}, "CONNECT will payload"},
		{"SUBSCRIBE filter", V311, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}, {Filter: long}}}, "SUBSCRIBE topic filter"},
		{"UNSUBSCRIBE filter", V5, &Unsubscribe{PacketID: 1, Filters: []string{long}}, "UNSUBSCRIBE topic filter"},
		{"user property value", V5, &Puback{PacketID: 1, Props: props(PropUser, "k="+long)}, "user-property value"},
		{"reason string", V5, &Disconnect{Props: props(PropReasonString, long)}, "reason-string"},
		{"will correlation data", V5, &Connect{Version: V5, Will: &Will{Topic: "w", Props: props(PropCorrelationData, long)}}, "correlation-data"},
		{"subscription identifier 0", V5, &Publish{Topic: "t", Props: Properties{SubscriptionIDs: []uint32{0}}}, "subscription-identifier"},
		{"subscription identifier too big", V5, &Subscribe{PacketID: 1, Props: Properties{SubscriptionIDs: []uint32{1 << 28}},
			Subscriptions: []Subscription{{Filter: "a"}}}, "subscription-identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := Append(dst, tt.p, tt.v)
			if !errors.Is(err, MalformedPacket) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Append(%s) error %v, want %v naming %q", tt.name, err, MalformedPacket, tt.field)
			}
			if string(out) != "keep" {
				t.Errorf("Append(%s) on error returned % x, want dst unchanged", tt.name, out)
			}
			var w bytes.Buffer
			if err := Write(&w, tt.p, tt.v); err == nil || w.Len() != 0 {
				t.Errorf("Write(%s) = %v after writing %d bytes, want an error and nothing written", tt.name, err, w.Len())
			}
		})
	}
	// 65,535 bytes is still fine.
	p := &Publish{Topic: long[1:]}
	b := encode(t, p, V311)
	got, err := Read(bytes.NewReader(b), V311, 0)
	if err != nil || got.(*Publish).Topic != p.Topic {
		t.Errorf("Read of a 65535-byte topic: %v", err)
	}
}

// writeRecorder records the size of every Write call.
type writeRecorder struct {
	bytes.Buffer
	calls []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.calls = append(w.calls, len(p))
	return w.Buffer.Write(p)
}

// TestWriteCalls: a small packet goes out in one Write; a large payload is
// written from the caller's slice without being copied.
func TestWriteCalls(t *testing.T) {
	large := bytes.Repeat([]byte{'x'}, 4096)
	tests := []struct {
		name  string
		p     Packet
		calls []int
	}{
		{"PINGREQ", &Pingreq{}, []int{2}},
		{"PUBLISH 64 B", &Publish{Topic: "t", Payload: large[:64]}, []int{69}},
		{"PUBLISH 1 KiB", &Publish{Topic: "t", Payload: large[:1024]}, []int{1030}},
		{"PUBLISH 4 KiB", &Publish{Topic: "t", Payload: large}, []int{6, 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w writeRecorder
			if err := Write(&w, tt.p, V311); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.calls, w.calls); diff != "" {
				t.Errorf("Write(%s) call sizes (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	// The payload slice itself is handed to the second Write.
	var got []byte
	w := writerFunc(func(p []byte) (int, error) { got = p; return len(p), nil })
	if err := Write(w, &Publish{Topic: "t", Payload: large}, V311); err != nil {
		t.Fatal(err)
	}
	if &got[0] != &large[0] {
		t.Errorf("Write copied a %d-byte payload", len(large))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestReadPublishSizes reads PUBLISH packets around the sizes where Read
// changes how it allocates, and checks that the payload cannot be appended
// to in place.
func TestReadPublishSizes(t *testing.T) {
	for _, n := range []int{0, 1, 44, 45, 46, 108, 109, 110, 204, 205, 206, 1000} {
		// Body: topic "t" (3 bytes) + payload; n is the payload length.
		payload := bytes.Repeat([]byte{byte(n)}, n)
		want := &Publish{Topic: "t", Payload: payload}
		b := encode(t, want, V311)
		got, err := Read(bytes.NewReader(b), V311, 0)
		if err != nil {
			t.Fatalf("Read(%d-byte payload) error: %v", n, err)
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("Read(%d-byte payload) mismatch (-want +got):\n%s", n, diff)
		}
		if p := got.(*Publish).Payload; cap(p) != len(p) {
			t.Errorf("Read(%d-byte payload): cap %d, want %d", n, cap(p), len(p))
		}
	}
}

// TestConcurrentWrite runs Write, Size and Read from several goroutines,
// which share the encoder's buffer pool; run it with -race.
func TestConcurrentWrite(t *testing.T) {
	cs := roundTripCases(V5)
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var err error
			defer func() { errc <- err }()
			for i := 0; i < 50 && err == nil; i++ {
				c := cs[(g+i)%len(cs)]
				var buf bytes.Buffer
				if err = Write(&buf, c.p, V5); err != nil {
					return
				}
				if n, _ := Size(c.p, V5); n != buf.Len() {
					err = fmt.Errorf("Size(%s) = %d, wrote %d", c.name, n, buf.Len())
					return
				}
				got, rerr := Read(&buf, V5, 0)
				if rerr != nil || !cmp.Equal(c.p, got, cmpOpts...) {
					err = fmt.Errorf("Read(%s) = %+v, %v", c.name, got, rerr)
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
