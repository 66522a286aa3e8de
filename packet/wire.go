package packet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder reads the fields of one packet body. Every method names the field
// it reads in its error, which wraps MalformedPacket.
type decoder struct {
	b []byte
}

func short(field string, want, have int) error {
	return fmt.Errorf("packet: %s: need %d bytes, have %d: %w", field, want, have, MalformedPacket)
}

func (d *decoder) byte1(field string) (byte, error) {
	if len(d.b) < 1 {
		return 0, short(field, 1, 0)
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v, nil
}

func (d *decoder) uint16(field string) (uint16, error) {
	if len(d.b) < 2 {
		return 0, short(field, 2, len(d.b))
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v, nil
}

func (d *decoder) uint32(field string) (uint32, error) {
	if len(d.b) < 4 {
		return 0, short(field, 4, len(d.b))
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v, nil
}

// varint reads a variable byte integer of at most four bytes [MQTT-1.5.5-1].
func (d *decoder) varint(field string) (int, error) {
	v, n, err := decodeVarint(d.b)
	if err != nil {
		return 0, fmt.Errorf("packet: %s: %w", field, err)
	}
	d.b = d.b[n:]
	return v, nil
}

// binary reads two-byte-length-prefixed bytes. The result aliases the packet buffer.
func (d *decoder) binary(field string) ([]byte, error) {
	if len(d.b) < 2 {
		return nil, short(field+" length", 2, len(d.b))
	}
	n := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	if int(n) > len(d.b) {
		return nil, short(field, int(n), len(d.b))
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v, nil
}

// str reads a UTF-8 encoded string and checks it [MQTT-1.5.4-1..3].
func (d *decoder) str(field string) (string, error) {
	b, err := d.binary(field)
	if err != nil {
		return "", err
	}
	if err := checkUTF8(b); err != nil {
		return "", fmt.Errorf("packet: %s: %w", field, err)
	}
	return string(b), nil
}

// packetID reads a packet identifier, which must not be 0 [MQTT-2.2.1-3].
func (d *decoder) packetID(t Type) (uint16, error) {
	if len(d.b) < 2 {
		return 0, short(t.String()+" packet identifier", 2, len(d.b))
	}
	id := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	if id == 0 {
		return 0, fmt.Errorf("packet: %s packet identifier is 0: %w", t, ProtocolError)
	}
	return id, nil
}

func (d *decoder) end(t Type) error {
	if len(d.b) != 0 {
		return fmt.Errorf("packet: %s: %d trailing bytes: %w", t, len(d.b), MalformedPacket)
	}
	return nil
}

// checkUTF8 rejects ill-formed UTF-8, including surrogates and overlong
// forms (which utf8.Valid rejects), and U+0000, which in well-formed UTF-8
// can only be a zero byte [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func checkUTF8(b []byte) error {
	if bytes.IndexByte(b, 0) >= 0 {
		return fmt.Errorf("contains U+0000: %w", MalformedPacket)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("ill-formed UTF-8: %w", MalformedPacket)
	}
	return nil
}

// checkUTF8String is checkUTF8 for a string.
func checkUTF8String(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("contains U+0000: %w", MalformedPacket)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("ill-formed UTF-8: %w", MalformedPacket)
	}
	return nil
}

// CheckUTF8 reports whether s is a valid MQTT UTF-8 string: well-formed, no
// surrogates, no U+0000, at most 65,535 bytes.
func CheckUTF8(s string) error {
	if len(s) > 0xFFFF {
		return fmt.Errorf("packet: string of %d bytes is longer than 65535: %w", len(s), MalformedPacket)
	}
	if err := checkUTF8String(s); err != nil {
		return fmt.Errorf("packet: %w", err)
	}
	return nil
}

func decodeVarint(b []byte) (v, n int, err error) {
	mul := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("variable byte integer truncated: %w", MalformedPacket)
		}
		c := b[i]
		v += int(c&0x7F) * mul
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		mul <<= 7
	}
	return 0, 0, fmt.Errorf("variable byte integer longer than 4 bytes: %w", MalformedPacket)
}

func varintSize(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

func appendVarint(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		dst = append(dst, c)
		if v == 0 {
			return dst
		}
	}
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}
