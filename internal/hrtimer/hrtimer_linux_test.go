package hrtimer

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSleepArmsTimerfd checks the mechanism: during a Sleep the timerfd is
// armed to fire kickAfter after the sleep is due, never before.
func TestSleepArmsTimerfd(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	const d = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- tm.Sleep(ctx, d) }()
	// Sleep arms the timer for at most one step (5 ms) at a time; poll
	// until it is armed.
	var spec unix.ItimerSpec
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := unix.TimerfdGettime(tm.fd, &spec); err != nil {
			t.Fatal(err)
		}
		if spec.Value.Nano() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timerfd not armed 10s after Sleep began")
		}
	}
	fires := time.Now().Add(time.Duration(spec.Value.Nano()))
	due := start.Add(min(d, step))
	if elapsed := time.Since(start); elapsed < step {
		// The first step: it fires after the step ends, by about kickAfter.
		if fires.Before(due) || fires.After(due.Add(kickAfter+time.Since(start))) {
			t.Errorf("timerfd fires %v after Sleep began, want between %v and %v", fires.Sub(start), min(d, step), min(d, step)+kickAfter)
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Sleep after cancel = %v, want %v", err, context.Canceled)
	}
}
