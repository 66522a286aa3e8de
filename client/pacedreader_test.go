package client

import (
	"io"
	"testing"
	"time"
)

// steadyReader has one byte ready on every read, as a connection to a
// server that keeps sending.
type steadyReader struct{ reads []time.Time }

func (r *steadyReader) Read(b []byte) (int, error) {
	r.reads = append(r.reads, time.Now())
	b[0] = 1
	return 1, nil
}

func TestPacedReaderSpacesReads(t *testing.T) {
	const interval = 5 * time.Millisecond
	sr := &steadyReader{}
	p := &pacedReader{r: sr, interval: interval}
	buf := make([]byte, 8)
	for range 5 {
		if _, err := p.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(sr.reads); i++ {
		// Each paced read waits for the next multiple of the interval: one
		// read per interval however steadily data arrives.
		prev, cur := sr.reads[i-1].Truncate(interval), sr.reads[i].Truncate(interval)
		if !cur.After(prev) {
			t.Errorf("reads %d and %d at %v and %v, in the same %v interval; want one read an interval while data keeps arriving",
				i-1, i, sr.reads[i-1].Format(time.StampMicro), sr.reads[i].Format(time.StampMicro), interval)
		}
	}
}

// slowReader blocks for wait before each byte, as a quiet connection.
type slowReader struct {
	wait  time.Duration
	reads []time.Time
}

func (r *slowReader) Read(b []byte) (int, error) {
	r.reads = append(r.reads, time.Now())
	time.Sleep(r.wait)
	b[0] = 1
	return 1, nil
}

func TestPacedReaderQuietConnection(t *testing.T) {
	const interval = 2 * time.Millisecond
	sr := &slowReader{wait: 3 * interval}
	p := &pacedReader{r: sr, interval: interval}
	buf := make([]byte, 8)
	for range 4 {
		if _, err := p.Read(buf); err != nil {
			t.Fatal(err)
		}
		if p.paced {
			t.Fatalf("paced after a read that waited %v, longer than the %v interval", sr.wait, interval)
		}
	}
}

func TestPacedReaderOff(t *testing.T) {
	sr := &steadyReader{}
	p := &pacedReader{r: sr}
	for i := range 100 {
		if _, err := p.Read(make([]byte, 1)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if p.paced {
			t.Fatalf("read %d: paced with no interval set, want every read at once", i)
		}
	}
}

// TestPacedReaderClockStepBack checks that a wall clock stepped back (the
// last read seemingly an hour ahead) delays the next read by at most about
// one interval, not by the step.
func TestPacedReaderClockStepBack(t *testing.T) {
	const interval = time.Millisecond
	p := &pacedReader{r: &steadyReader{}, interval: interval, paced: true, last: time.Now().Add(time.Hour)}
	start := time.Now()
	if _, err := p.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("Read after the clock stepped back an hour took %v, want about %v", d, interval)
	}
}
