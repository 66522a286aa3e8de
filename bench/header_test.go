package bench

import (
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		size int
	}{
		{"zero", Header{}, HeaderSize},
		{"typical", Header{RunID: 0xdeadbeefcafe, Publisher: 7, Seq: 12345, Intended: 1_500_000, Sent: 1_500_900}, 64},
		{"max", Header{RunID: ^uint64(0), Publisher: ^uint32(0), Seq: ^uint64(0), Intended: -1, Sent: 1<<63 - 1}, HeaderSize + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.size)
			if err := tt.h.Encode(b); err != nil {
				t.Fatalf("Encode(%+v) = %v", tt.h, err)
			}
			got, err := DecodeHeader(b)
			if err != nil {
				t.Fatalf("DecodeHeader(% x) = %v", b, err)
			}
			if got != tt.h {
				t.Errorf("DecodeHeader(% x) = %+v, want %+v", b, got, tt.h)
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	if err := (Header{}).Encode(make([]byte, HeaderSize-1)); err == nil {
		t.Errorf("Encode into %d bytes = nil, want error", HeaderSize-1)
	}
	good := make([]byte, HeaderSize)
	if err := (Header{Seq: 1}).Encode(good); err != nil {
		t.Fatal(err)
	}
	badMagic := append([]byte(nil), good...)
	badMagic[0] = 'X'
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", good[:HeaderSize-1]},
		{"bad magic", badMagic},
		{"text", []byte("hello world, this is not a bench payload!")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeHeader(tt.in); !errors.Is(err, ErrNotBench) {
				t.Errorf("DecodeHeader(% x) = %v, want ErrNotBench", tt.in, err)
			}
		})
	}
}
