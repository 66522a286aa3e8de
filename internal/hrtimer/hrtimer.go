// Package hrtimer sleeps to the microsecond. The Go runtime waits for
// timers in epoll_wait, whose timeout is in milliseconds, so in a process
// with nothing else to do a time.Sleep of any length under a few
// milliseconds ends up to a millisecond late (about 1.08 ms for a 100 µs
// sleep on the development machine). A load generator that sends on a
// schedule and measures latency from it would count that delay as the
// broker's.
//
// On Linux a Timer is a timerfd that the runtime's poller watches. For the
// last stretch of a sleep, Sleep arms it to fire just after the deadline,
// then sleeps on the runtime's timer: a busy process notices that timer at
// its next scheduling point as usual, and an idle one is woken by the
// timerfd instead of at the end of its millisecond. Elsewhere a Timer
// sleeps with the runtime's timer alone.
package hrtimer

import (
	"context"
	"time"
)

// coarse is the last stretch of a sleep, the part a Timer wakes for; what
// comes before it is slept on a plain runtime timer, at most about a
// millisecond late, so that a long sleep arms the timerfd once.
const coarse = 2 * time.Millisecond

// kickAfter is how long after a sleep's deadline the timerfd fires, so that
// the runtime's timer is due when the timerfd wakes the runtime.
const kickAfter = 10 * time.Microsecond

// Sleep waits until d has passed, or until ctx ends before the last 2 ms
// of the wait. It returns ctx's error if ctx ended, else nil. A nil t
// sleeps on the runtime's timer alone. Sleep never ends early: if the
// timerfd cannot be armed (t closed), the sleep is only late.
func (t *Timer) Sleep(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	if d > coarse {
		tm := time.NewTimer(d - coarse)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if t != nil {
		t.kick(deadline)
	}
	// The runtime's timer is set after the kick, so it is due by the time
	// the kick fires.
	for left := time.Until(deadline); left > 0; left = time.Until(deadline) {
		time.Sleep(left)
	}
	return nil
}
