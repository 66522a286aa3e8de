package hrtimer

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSleepArmsTimerfd checks the mechanism: a Sleep does not arm the
// timerfd before its last stretch (coarse before the deadline), and does
// arm it, so that it has fired once the Sleep is over. Nothing else reads
// the timerfd, so its expiration count shows that it fired.
func TestSleepArmsTimerfd(t *testing.T) {
	tm := newTimer(t)
	fd := -1
	tm.rc.Control(func(f uintptr) { fd = int(f) })
	const d = 100 * time.Millisecond
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- tm.Sleep(context.Background(), d) }()
	// Well before the last stretch, the timerfd must be disarmed.
	for time.Since(start) < d-coarse-20*time.Millisecond {
		var spec unix.ItimerSpec
		if err := unix.TimerfdGettime(fd, &spec); err != nil {
			t.Fatal(err)
		}
		if spec.Value.Nano() != 0 {
			t.Fatalf("timerfd armed %v after Sleep(%v) began, want not before %v", time.Since(start), d, d-coarse)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Sleep = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return within 10s")
	}
	if got := time.Since(start); got < d {
		t.Errorf("Sleep(%v) returned after %v", d, got)
	}
	// The kick fires kickAfter after the deadline: wait for it, then read
	// its count.
	var buf [8]byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := unix.Read(fd, buf[:])
		if err == nil {
			break
		}
		if err != unix.EAGAIN {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("timerfd never fired: Sleep did not arm it")
		}
		time.Sleep(time.Millisecond)
	}
	if n := binary.NativeEndian.Uint64(buf[:]); n != 1 {
		t.Errorf("timerfd fired %d times, want once", n)
	}
}
