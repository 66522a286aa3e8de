package bench

import (
	"context"
	"time"

	"github.com/mqtool/mqtool/internal/hrtimer"
)

// LateAfter is how far behind its intended time a send may start before it
// counts as late: bench, or the machine, did not keep up with the schedule.
// Go's timers alone may wake a millisecond late (where there is no timerfd,
// or while so many packets come in that bench does without it: see
// busyIncoming), which this leaves out.
const LateAfter = 2 * time.Millisecond

// Schedule holds the intended send times of one publisher under an open-loop
// constant total rate: the publishers share the rate, each sending at the
// same interval, staggered so the sends of all publishers interleave evenly.
// Times are durations since the run's epoch. The zero Schedule is unpaced:
// every send is due at once and waits only for the inflight window.
type Schedule struct {
	offset   float64       // ns
	interval float64       // ns
	tick     time.Duration // see WithTick
}

// NewSchedule returns publisher index's schedule for rate messages per
// second in total over publishers publishers, starting at start. A rate of 0
// gives the unpaced schedule.
func NewSchedule(start time.Duration, rate float64, publishers, index int) Schedule {
	if rate <= 0 || publishers <= 0 {
		return Schedule{offset: float64(start)}
	}
	interval := float64(publishers) / rate * float64(time.Second)
	return Schedule{
		offset:   float64(start) + interval*float64(index)/float64(publishers),
		interval: interval,
	}
}

// WithTick returns s with its wake-ups on a grid: a paced publisher that
// finds nothing due sleeps until the later of the next intended time and
// the next multiple of tick on the run's clock, then sends every message
// that fell due meanwhile. Above one message per tick this is one wake-up,
// and about one write, per tick instead of per message; below it nothing
// changes. Intended times do not move, so the up to one tick a send is held
// back counts in the latency. Publishers share the grid and wake together.
// A tick of 0 wakes for every message.
func (s Schedule) WithTick(tick time.Duration) Schedule {
	s.tick = max(tick, 0)
	return s
}

// Paced reports whether s has a rate; unpaced sends are timed from when
// they get a window slot.
func (s Schedule) Paced() bool { return s.interval > 0 }

// Interval is the time between two sends of this publisher.
func (s Schedule) Interval() time.Duration { return time.Duration(s.interval) }

// At returns the intended time of send k (k from 0).
func (s Schedule) At(k uint64) time.Duration {
	return time.Duration(s.offset + float64(k)*s.interval)
}

// clock is the run's time source: durations since the run's epoch.
type clock interface {
	Now() time.Duration
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// monoClock is the real clock. With a timer it sleeps to the microsecond
// (see package hrtimer), so a paced send is not up to a millisecond late,
// which the latency from its intended time would count as the broker's.
// A timer serves one goroutine: see withTimer.
type monoClock struct {
	epoch time.Time
	timer *hrtimer.Timer
}

func (c monoClock) Now() time.Duration { return time.Since(c.epoch) }

func (c monoClock) Sleep(ctx context.Context, d time.Duration) error {
	return c.timer.Sleep(ctx, d)
}

// withTimer returns c with a timer of its own for one goroutine, and the
// function that releases it. Without a timer (no timerfd) the copy sleeps
// with time.Sleep.
func (c monoClock) withTimer() (monoClock, func()) {
	t, err := hrtimer.New()
	if err != nil {
		return c, func() {}
	}
	c.timer = t
	return c, func() { t.Close() }
}

// pace calls send for k = 0, 1, ... each at s.At(k) or as soon after as it
// can (with a tick, at the next tick if that is later), until the
// intended time reaches end (0: no end), count sends were made
// (0: no limit), send fails, or ctx ends. It never waits to catch up: a send
// that is due is made at once however late, so the offered rate holds and
// the lateness shows in the latency measured from the intended time.
// Unpaced, intended is -1 and send takes the time after its window slot.
func (s Schedule) pace(ctx context.Context, clk clock, end time.Duration, count uint64, send func(k uint64, intended time.Duration) error) error {
	for k := uint64(0); count == 0 || k < count; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		intended := time.Duration(-1)
		if s.Paced() {
			intended = s.At(k)
			if end > 0 && intended >= end {
				return nil
			}
			if now := clk.Now(); intended > now {
				at := intended
				if s.tick > 0 {
					at = max(at, now.Truncate(s.tick)+s.tick)
				}
				if err := clk.Sleep(ctx, at-now); err != nil {
					return err
				}
			}
		} else if end > 0 && clk.Now() >= end {
			return nil
		}
		if err := send(k, intended); err != nil {
			return err
		}
	}
	return nil
}
