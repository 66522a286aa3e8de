package hrtimer

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Timer is a timerfd registered with the runtime's poller. It is used by
// one goroutine at a time.
type Timer struct {
	f  *os.File // keeps the timerfd registered with the poller
	rc syscall.RawConn
	// base, a reading of time.Now, was baseMono or earlier on
	// CLOCK_MONOTONIC, the clock of the timerfd and of the runtime's
	// timers: a deadline computed from base is never early.
	base     time.Time
	baseMono int64
	spec     unix.ItimerSpec // for armFd
	armFd    func(fd uintptr)
}

// New returns a Timer, or an error if the system has no timerfd or the
// runtime's poller cannot watch one (then use a nil *Timer, which sleeps on
// the runtime's timer alone).
func New() (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("hrtimer: timerfd_create: %w", err)
	}
	// A non-blocking descriptor is added to the runtime's epoll set, whose
	// wait then ends when the timer fires; nothing reads it, and arming it
	// again clears its count. SetReadDeadline fails on a file the poller
	// does not watch (e.g. when epoll's watch limit is reached).
	f := os.NewFile(uintptr(fd), "timerfd")
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("hrtimer: timerfd not pollable: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("hrtimer: %w", err)
	}
	t := &Timer{f: f, rc: rc}
	t.armFd = t.arm
	if err := t.setBase(); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// setBase pairs a time.Now reading with CLOCK_MONOTONIC, retrying while a
// pre-emption between the two readings makes the pair imprecise.
func (t *Timer) setBase() error {
	var ts unix.Timespec
	for try := 0; ; try++ {
		before := time.Now()
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return fmt.Errorf("hrtimer: clock_gettime: %w", err)
		}
		if time.Since(before) < 5*time.Microsecond || try == 9 {
			t.base, t.baseMono = before, ts.Nano()
			return nil
		}
	}
}

// Close releases the timerfd. A nil t is fine.
func (t *Timer) Close() error {
	if t == nil {
		return nil
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("hrtimer: close: %w", err)
	}
	return nil
}

// kick arms the timerfd to fire kickAfter after deadline. On a closed
// Timer it does nothing.
func (t *Timer) kick(deadline time.Time) {
	at := t.baseMono + int64(deadline.Sub(t.base)+kickAfter)
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	_ = t.rc.Control(t.armFd)
}

func (t *Timer) arm(fd uintptr) {
	// An error leaves the sleep to the runtime's timer: late, never early.
	_ = unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME, &t.spec, nil)
}
