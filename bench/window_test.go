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

	// Within the window: no wait.
	start := time.Now()
	if err := p.waitHeard(ctx, 3, 4); err != nil || time.Since(start) > stallAfter/2 {
		t.Fatalf("waitHeard(k 3, window 4) with nothing heard = %v after %v, want at once", err, time.Since(start))
	}

	// One window ahead: waits until the slower subscriber catches up.
	done := make(chan error, 1)
	go func() { done <- p.waitHeard(ctx, 6, 4) }()
	p.heard[0].Store(10)
	select {
	case err := <-done:
		t.Fatalf("waitHeard returned %v while subscriber 1 has heard nothing", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.heard[1].Store(3)
	for !p.waiting.Load() {
		time.Sleep(time.Millisecond)
	}
	p.wake <- struct{}{}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waitHeard = %v", err)
		}
	case <-time.After(stallAfter / 2):
		t.Fatal("waitHeard did not return once every subscriber was within the window")
	}

	// Nothing arrives: it gives up waiting after stallAfter.
	start = time.Now()
	if err := p.waitHeard(ctx, 100, 4); err != nil || time.Since(start) < stallAfter {
		t.Errorf("waitHeard with a stalled subscriber = %v after %v, want nil after %v", err, time.Since(start), stallAfter)
	}

	// Cancelled.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.waitHeard(cctx, 100, 4); err != context.Canceled {
		t.Errorf("waitHeard after cancel = %v, want context.Canceled", err)
	}
}
