package client

import (
	"context"
	"io"
	"time"

	"github.com/mqtool/mqtool/internal/hrtimer"
)

// pacedReader spaces reads from r while data keeps arriving within
// interval of asking for it (Options.ReadInterval): the next read waits
// for the next multiple of interval on the wall clock, so that the paced
// clients of a process wake together. A read that had to wait an interval
// or longer for data ends the pacing until data comes quickly again.
type pacedReader struct {
	r        io.Reader
	interval time.Duration // 0: no pacing
	paced    bool
	last     time.Time // when the last read returned
	// timer sleeps to the microsecond (time.Sleep would wake up to a
	// millisecond late); nil sleeps with time.Sleep.
	timer *hrtimer.Timer
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.paced {
		// Truncate drops the monotonic reading, so the wait is on the wall
		// clock; a clock stepped back must not stretch it past an interval.
		// Sleep fails only on a closed timer, which the read goroutine
		// closes after its last read.
		_ = p.timer.Sleep(context.Background(), min(time.Until(p.last.Truncate(p.interval).Add(p.interval)), p.interval))
	}
	asked := time.Now()
	n, err := p.r.Read(b)
	p.last = time.Now()
	p.paced = p.interval > 0 && err == nil && p.last.Sub(asked) < p.interval
	return n, err
}
