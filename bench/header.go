package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic starts every bench payload, so a subscriber can tell bench messages
// from anything else on the topic.
var Magic = [4]byte{'M', 'Q', 'B', '1'}

// HeaderSize is the length of the header at the start of each payload; the
// smallest --size bench accepts.
const HeaderSize = 4 + 8 + 4 + 8 + 8 + 8

// ErrNotBench is returned by DecodeHeader for a payload that does not start
// with Magic or is too short to hold a header.
var ErrNotBench = errors.New("bench: payload has no bench header")

// Header is what each publisher writes at the start of a payload. Times are
// nanoseconds since the run's epoch on the monotonic clock, so publisher and
// subscriber in one process compare them without wall-clock skew.
type Header struct {
	RunID     uint64
	Publisher uint32
	Seq       uint64
	Intended  int64 // when the schedule said to send
	Sent      int64 // when the publisher actually sent
}

// Encode writes h into the first HeaderSize bytes of dst.
func (h Header) Encode(dst []byte) error {
	if len(dst) < HeaderSize {
		return fmt.Errorf("bench: payload of %d bytes is smaller than the %d-byte header", len(dst), HeaderSize)
	}
	copy(dst, Magic[:])
	binary.BigEndian.PutUint64(dst[4:], h.RunID)
	binary.BigEndian.PutUint32(dst[12:], h.Publisher)
	binary.BigEndian.PutUint64(dst[16:], h.Seq)
	binary.BigEndian.PutUint64(dst[24:], uint64(h.Intended))
	binary.BigEndian.PutUint64(dst[32:], uint64(h.Sent))
	return nil
}

// DecodeHeader reads the header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize || [4]byte(b[:4]) != Magic {
		return Header{}, ErrNotBench
	}
	return Header{
		RunID:     binary.BigEndian.Uint64(b[4:]),
		Publisher: binary.BigEndian.Uint32(b[12:]),
		Seq:       binary.BigEndian.Uint64(b[16:]),
		Intended:  int64(binary.BigEndian.Uint64(b[24:])),
		Sent:      int64(binary.BigEndian.Uint64(b[32:])),
	}, nil
}
