package hrtimer

import (
	"context"
	"sort"
	"testing"
	"time"
)

// TestSleepDuration checks that Sleep waits at least d, for sleeps from
// a microsecond to longer than one step, and returns nil.
func TestSleepDuration(t *testing.T) {
	tm := newTimer(t)
	for _, d := range []time.Duration{time.Nanosecond, time.Microsecond, 100 * time.Microsecond, time.Millisecond, 12 * time.Millisecond} {
		for i := 0; i < 5; i++ {
			if got := sleepWithin(t, tm, d); got < d {
				t.Errorf("Sleep(%v) returned after %v", d, got)
			}
		}
	}
}

// newTimer returns a Timer closed when tb ends.
func newTimer(tb testing.TB) *Timer {
	tb.Helper()
	tm, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tm.Close() })
	return tm
}

// sleepWithin calls tm.Sleep(d) and returns how long it took, failing the
// test if Sleep fails or has not returned within 10 s.
func sleepWithin(t *testing.T, tm *Timer, d time.Duration) time.Duration {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- tm.Sleep(context.Background(), d) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Sleep(%v) = %v, want nil", d, err)
		}
		return time.Since(start)
	case <-time.After(10 * time.Second):
		t.Fatalf("Sleep(%v) did not return within 10s", d)
		return 0
	}
}

// TestSleepNil checks that a nil Timer sleeps too.
func TestSleepNil(t *testing.T) {
	var tm *Timer
	start := time.Now()
	if err := tm.Sleep(context.Background(), 2*time.Millisecond); err != nil {
		t.Fatalf("nil Sleep = %v, want nil", err)
	}
	if got := time.Since(start); got < 2*time.Millisecond {
		t.Errorf("nil Sleep(2ms) returned after %v", got)
	}
	if err := tm.Close(); err != nil {
		t.Errorf("nil Close = %v", err)
	}
}

// TestSleepContext checks that Sleep returns ctx's error soon after ctx
// ends, and at once for a ctx that has ended.
func TestSleepContext(t *testing.T) {
	tm := newTimer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tm.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep(ended ctx) = %v, want %v", err, context.Canceled)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tm.Sleep(ctx, time.Hour) }()
	select {
	case err := <-done:
		if err != context.DeadlineExceeded {
			t.Fatalf("Sleep(ctx ending in 20ms) = %v, want %v", err, context.DeadlineExceeded)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep did not return 10s after its ctx ended")
	}
}

// TestSleepClosed checks that a closed Timer still sleeps for d: without
// its timerfd a sleep may be late, never early.
func TestSleepClosed(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sleepWithin(t, tm, time.Millisecond); got < time.Millisecond {
		t.Errorf("Sleep(1ms) on a closed Timer returned after %v", got)
	}
}

// BenchmarkSleep100us reports how late a 100 µs Sleep ends (ns/op is the
// whole sleep), against time.Sleep's in BenchmarkTimeSleep100us: the point
// of the package. The lateness is a measurement, not a test: it depends on
// the machine's load.
func BenchmarkSleep100us(b *testing.B) {
	tm := newTimer(b)
	benchSleep(b, func(d time.Duration) { tm.Sleep(context.Background(), d) })
}

func BenchmarkTimeSleep100us(b *testing.B) {
	benchSleep(b, time.Sleep)
}

func benchSleep(b *testing.B, sleep func(time.Duration)) {
	const d = 100 * time.Microsecond
	late := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		sleep(d)
		late = append(late, time.Since(start)-d)
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	b.ReportMetric(float64(late[len(late)/2].Microseconds()), "µs-late-p50")
}
