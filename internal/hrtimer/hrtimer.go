// Package hrtimer sleeps to the microsecond. The Go runtime waits for
// timers in epoll_wait, whose timeout is in milliseconds, so in a process
// with nothing else to do a time.Sleep of any length under a few
// milliseconds ends up to a millisecond late (about 1.08 ms for a 100 µs
// sleep on the development machine). A load generator that sends on a
// schedule and measures latency from it would count that delay as the
// broker's.
//
// On Linux a Timer is a timerfd that the runtime's poller watches. Sleep
// arms it to fire just after the runtime's own timer is due, then sleeps
// with that timer: a busy process notices the timer at its next scheduling
// point as usual, and an idle one is woken by the timerfd instead of at the
// end of its millisecond. Elsewhere a Timer sleeps with time.Sleep.
package hrtimer

import (
	"context"
	"time"
)

// step is the longest single wait; ctx is checked between steps.
const step = 5 * time.Millisecond

// Sleep waits for d on t, or until ctx ends, checked at least every 5 ms.
// It returns ctx's error if ctx ended, else nil. A nil t sleeps with
// time.Sleep alone.
func (t *Timer) Sleep(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		left = min(left, step)
		if t != nil {
			if err := t.arm(left + kickAfter); err != nil {
				return err
			}
		}
		time.Sleep(left)
	}
}

// kickAfter is how long after the runtime's timer is due the timerfd fires,
// so that the wake-up finds the timer due: the runtime's deadline is taken
// inside time.Sleep, just after arm returns.
const kickAfter = 10 * time.Microsecond
