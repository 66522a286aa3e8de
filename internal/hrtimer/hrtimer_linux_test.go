package hrtimer

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSleepArmsTimerfd checks the mechanism: a Sleep arms the timerfd once,
// for its last stretch (not before coarse of the deadline), to fire after
// the deadline, by about kickAfter.
func TestSleepArmsTimerfd(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	const d = 100 * time.Millisecond
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- tm.Sleep(context.Background(), d) }()
	var spec unix.ItimerSpec
	for {
		fd := -1
		tm.rc.Control(func(f uintptr) { fd = int(f) })
		if err := unix.TimerfdGettime(fd, &spec); err != nil {
			t.Fatal(err)
		}
		if spec.Value.Nano() > 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("timerfd not armed 10s after Sleep began")
		}
	}
	armed := time.Now()
	fires := armed.Add(time.Duration(spec.Value.Nano()))
	if early := start.Add(d - coarse); armed.Before(early) {
		t.Errorf("timerfd armed %v after Sleep(%v) began, want no sooner than %v", armed.Sub(start), d, d-coarse)
	}
	if fires.Before(start.Add(d)) || fires.After(armed.Add(coarse+kickAfter+time.Millisecond)) {
		t.Errorf("timerfd fires %v after Sleep(%v) began, want after %v, about %v after", fires.Sub(start), d, d, kickAfter)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Sleep = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return within 10s")
	}
}
