package packet

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzMaxSize bounds what one fuzz input may make Read allocate.
const fuzzMaxSize = 1 << 20

// seedPackets adds every fixture, every round-trip packet and a few
// malformed inputs to the corpus as (version, bytes).
func seedPackets(f *testing.F, add func(v Version, b []byte)) {
	for _, fx := range fixtures {
		add(fx.v, fx.in)
	}
	for _, v := range versions {
		for _, c := range roundTripCases(v) {
			b, err := Append(nil, c.p, v)
			if err != nil {
				f.Fatalf("Append(%s) error: %v", c.name, err)
			}
			add(v, b)
		}
	}
	add(V311, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})
	add(V5, pk(0x30, str("a"), 6, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01))
	add(V5, pk(0x10, connectHead("MQTT", 6, 2), str("c")))
	add(V31, []byte{0x20, 0x02, 0x01, 0x00})
}

// checkDecoded checks the outcome of decoding in at level v: either an
// error that wraps a ReasonCode or an I/O error, or a packet that Write
// encodes to bytes that decode to an equal packet.
func checkDecoded(t *testing.T, in []byte, v Version, p Packet, err error) {
	t.Helper()
	if err != nil {
		var code ReasonCode
		switch {
		case errors.As(err, &code):
			if !code.IsError() {
				t.Errorf("Read(% x, %v) error %v carries non-error reason %v", in, v, err, code)
			}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		default:
			t.Errorf("Read(% x, %v) error %v wraps neither a ReasonCode nor an I/O error", in, v, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || (err != io.EOF && (!strings.HasPrefix(msg, "packet: ") || strings.Count(msg, "packet: ") > 1)) {
			t.Errorf("Read(% x, %v) error %q is not one line starting \"packet: \" once", in, v, msg)
		}
		if p != nil && !(errors.Is(err, UnsupportedProtocolVersion) && p.Type() == CONNECT) {
			t.Errorf("Read(% x, %v) returned %#v with error %v", in, v, p, err)
		}
		return
	}
	b, err := Append(nil, p, v)
	if err != nil {
		t.Fatalf("Read(% x, %v) = %+v, which Append cannot encode: %v", in, v, p, err)
	}
	var w bytes.Buffer
	if err := Write(&w, p, v); err != nil || !bytes.Equal(w.Bytes(), b) {
		t.Errorf("Write(%+v) = % x, %v; Append = % x", p, w.Bytes(), err, b)
	}
	if n, err := Size(p, v); err != nil || n != len(b) {
		t.Errorf("Size(%+v) = %d, %v; want %d", p, n, err, len(b))
	}
	p2, err := Read(bytes.NewReader(b), v, 0)
	if err != nil {
		t.Fatalf("Read(% x) decoded to %+v, encoded to % x, which fails to decode: %v", in, p, b, err)
	}
	if diff := cmp.Diff(p, p2, cmpOpts...); diff != "" {
		t.Fatalf("Read(% x) then Write = % x, which decodes differently (-first +second):\n%s", in, b, diff)
	}
	b2, err := Append(nil, p2, v)
	if err != nil || !bytes.Equal(b, b2) {
		t.Errorf("encoding is not stable: % x then % x (%v)", b, b2, err)
	}
}

func fuzzVersion(b byte) Version { return versions[int(b)%len(versions)] }

func versionIndex(v Version) byte { return byte(v - V31) }

func FuzzRead(f *testing.F) {
	seedPackets(f, func(v Version, b []byte) { f.Add(versionIndex(v), b) })
	f.Fuzz(func(t *testing.T, vb byte, in []byte) {
		v := fuzzVersion(vb)
		p, err := Read(bytes.NewReader(in), v, fuzzMaxSize)
		checkDecoded(t, in, v, p, err)
		// A reader without ReadByte takes the other path to the same result.
		p2, err2 := Read(struct{ io.Reader }{bytes.NewReader(in)}, v, fuzzMaxSize)
		if (err == nil) != (err2 == nil) || !cmp.Equal(p, p2, cmpOpts...) {
			t.Errorf("Read(% x) = %+v, %v via io.ByteReader but %+v, %v via io.Reader", in, p, err, p2, err2)
		}
	})
}

func FuzzDecode(f *testing.F) {
	seedPackets(f, func(v Version, b []byte) {
		if n, size, err := decodeVarint(b[1:]); err == nil && 1+size+n == len(b) {
			f.Add(versionIndex(v), b[0], b[1+size:])
		}
	})
	f.Fuzz(func(t *testing.T, vb, first byte, body []byte) {
		v := fuzzVersion(vb)
		p, err := Decode(first, body, v)
		whole := append(appendVarint([]byte{first}, len(body)), body...)
		checkDecoded(t, whole, v, p, err)
		rp, rerr := Read(bytes.NewReader(whole), v, 0)
		if (err == nil) != (rerr == nil) || !cmp.Equal(p, rp, cmpOpts...) {
			t.Errorf("Decode(%02x, % x) = %+v, %v but Read = %+v, %v", first, body, p, err, rp, rerr)
		}
	})
}

func FuzzTopic(f *testing.F) {
	f.Add("sport/#", "sport")
	f.Add("+/+", "/finance")
	f.Add("#", "$SYS/x")
	f.Add("$share/g/a/+", "a/b")
	f.Add("a/+/#", "a//b/c")
	f.Fuzz(func(t *testing.T, filter, name string) {
		fErr := ValidTopicFilter(filter)
		nErr := ValidTopicName(name)
		if fErr != nil && !errors.Is(fErr, TopicFilterInvalid) {
			t.Errorf("ValidTopicFilter(%q) = %v, not %v", filter, fErr, TopicFilterInvalid)
		}
		if nErr != nil && !errors.Is(nErr, TopicNameInvalid) {
			t.Errorf("ValidTopicName(%q) = %v, not %v", name, nErr, TopicNameInvalid)
		}
		m := Match(filter, name)
		if nErr != nil || fErr != nil {
			return
		}
		// A valid name is a valid filter that matches itself.
		if !IsShared(name) {
			if err := ValidTopicFilter(name); err != nil {
				t.Errorf("ValidTopicName(%q) ok but ValidTopicFilter: %v", name, err)
			}
			if !Match(name, name) {
				t.Errorf("Match(%q, %q) = false", name, name)
			}
		}
		if !strings.HasPrefix(name, "$") && !Match("#", name) {
			t.Errorf("Match(\"#\", %q) = false", name)
		}
		if m && strings.HasPrefix(name, "$") && !IsShared(filter) && (filter[0] == '+' || filter[0] == '#') {
			t.Errorf("Match(%q, %q) = true for a $ topic [MQTT-4.7.2-1]", filter, name)
		}
	})
}
