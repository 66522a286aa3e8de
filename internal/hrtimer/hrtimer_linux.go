package hrtimer

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Timer is a timerfd registered with the runtime's poller. It is used by
// one goroutine at a time.
type Timer struct {
	f  *os.File // keeps fd registered with the poller
	fd int      // f's; f.Fd would make f blocking
}

// New returns a Timer, or an error if the system has no timerfd (then use
// a nil *Timer, which sleeps with time.Sleep).
func New() (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("hrtimer: timerfd_create: %w", err)
	}
	// A non-blocking descriptor becomes pollable: the runtime adds it to
	// its epoll set, whose wait then ends when the timer fires. Nothing
	// reads it; arming it again clears its count.
	return &Timer{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// Close releases the timerfd. A nil t is fine.
func (t *Timer) Close() error {
	if t == nil {
		return nil
	}
	return t.f.Close()
}

// arm sets the timer to fire once, d from now.
func (t *Timer) arm(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("hrtimer: timerfd_settime: %w", err)
	}
	return nil
}
