package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitHeard(t *testing.T) {
	p := &publisher{heard: make([]atomic.Uint64, 2), wake: make(chan struct{}, 1)}
	ctx := context.Background()
	// wait runs waitHeard with a stall timeout of an hour, so only a wake
	// or being within the window can end it.
	wait := func(k uint64) chan error {
		done := make(chan error, 1)
		go func() { done <- p.waitHeard(ctx, k, 4, time.Hour) }()
		return done
	}
	within := func(done chan error, what string) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: waitHeard = %v, want nil", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: waitHeard still waiting after 5s", what)
		}
	}

	within(wait(3), "k 3, window 4, nothing heard")

	// One window ahead: waits until the slower subscriber catches up and
	// wakes it.
	done := wait(6)
	p.heard[0].Store(10)
	for deadline := time.Now().Add(5 * time.Second); !p.waiting.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("waitHeard(k 6, window 4) did not wait while subscriber 1 has heard nothing")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("waitHeard returned %v while subscriber 1 has heard nothing", err)
	default:
	}
	p.heard[1].Store(3)
	p.wake <- struct{}{}
	within(done, "subscriber 1 caught up")

	// Nothing arrives: it gives up waiting after the stall timeout.
	start := time.Now()
	if err := p.waitHeard(ctx, 100, 4, stallAfter); err != nil || time.Since(start) < stallAfter {
		t.Errorf("waitHeard with a stalled subscriber = %v after %v, want nil after %v", err, time.Since(start), stallAfter)
	}

	// Cancelled.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.waitHeard(cctx, 100, 4, time.Hour); err != context.Canceled {
		t.Errorf("waitHeard after cancel = %v, want context.Canceled", err)
	}
}
