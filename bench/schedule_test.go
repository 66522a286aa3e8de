package bench

import (
	"context"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

type fakeClock struct{ now time.Duration }

func (c *fakeClock) Now() time.Duration { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now += d
	return ctx.Err()
}

func TestScheduleAt(t *testing.T) {
	tests := []struct {
		name              string
		start             time.Duration
		rate              float64
		publishers, index int
		k                 uint64
		want              time.Duration
	}{
		{"first", 0, 1000, 1, 0, 0, 0},
		{"one publisher", 0, 1000, 1, 0, 10, 10 * time.Millisecond},
		{"start offset", time.Second, 1000, 1, 0, 3, time.Second + 3*time.Millisecond},
		{"second of two staggered", 0, 2000, 2, 1, 0, 500 * time.Microsecond},
		{"second of two later", 0, 2000, 2, 1, 10, 10*time.Millisecond + 500*time.Microsecond},
		{"fourth of four", 0, 4000, 4, 3, 1, time.Millisecond + 750*time.Microsecond},
		{"no drift after many", 0, 3, 1, 0, 3_000_000, 1_000_000 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSchedule(tt.start, tt.rate, tt.publishers, tt.index)
			if got := s.At(tt.k); got != tt.want {
				t.Errorf("NewSchedule(%v, %v, %d, %d).At(%d) = %v, want %v", tt.start, tt.rate, tt.publishers, tt.index, tt.k, got, tt.want)
			}
		})
	}
}

type sendRecord struct {
	k                uint64
	intended, actual time.Duration
}

func TestPaceFakeClock(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		end       time.Duration
		count     uint64
		stallAt   int64 // send k that takes 5ms; -1 none
		wantSends int
		wantLate  int
	}{
		{"on time until end", 1000, 10 * time.Millisecond, 0, -1, 10, 0},
		{"count limit", 1000, 0, 5, -1, 5, 0},
		{"count before end", 1000, time.Second, 7, -1, 7, 0},
		{"stall makes following sends late, no catch-up pause", 1000, 10 * time.Millisecond, 0, 3, 10, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{}
			s := NewSchedule(0, tt.rate, 1, 0)
			var got []sendRecord
			err := s.pace(context.Background(), clk, tt.end, tt.count, func(k uint64, intended time.Duration) error {
				got = append(got, sendRecord{k, intended, clk.now})
				if int64(k) == tt.stallAt {
					clk.now += 5 * time.Millisecond
				}
				return nil
			})
			if err != nil {
				t.Fatalf("pace = %v", err)
			}
			if len(got) != tt.wantSends {
				t.Fatalf("pace made %d sends, want %d: %v", len(got), tt.wantSends, got)
			}
			late := 0
			for i, r := range got {
				if r.k != uint64(i) || r.intended != s.At(r.k) {
					t.Errorf("send %d = %+v, want k %d intended %v", i, r, i, s.At(uint64(i)))
				}
				if r.actual < r.intended {
					t.Errorf("send %d at %v, before its intended time %v", i, r.actual, r.intended)
				}
				if r.actual-r.intended > LateAfter {
					late++
				}
			}
			if late != tt.wantLate {
				t.Errorf("late sends = %d, want %d: %v", late, tt.wantLate, got)
			}
		})
	}
}

func TestPaceUnpaced(t *testing.T) {
	clk := &fakeClock{}
	n := 0
	err := Schedule{}.pace(context.Background(), clk, 10*time.Millisecond, 0, func(k uint64, intended time.Duration) error {
		if intended != -1 {
			t.Errorf("unpaced send %d intended = %v, want -1", k, intended)
		}
		n++
		clk.now += time.Millisecond
		return nil
	})
	if err != nil || n != 10 {
		t.Errorf("unpaced pace over 10ms at 1ms a send = %d sends, %v; want 10, nil", n, err)
	}
}

func TestPaceRealClock(t *testing.T) {
	clk := monoClock{epoch: time.Now()}
	s := NewSchedule(0, 2000, 2, 1)
	var got []sendRecord
	err := s.pace(context.Background(), clk, 20*time.Millisecond, 0, func(k uint64, intended time.Duration) error {
		got = append(got, sendRecord{k, intended, clk.Now()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Errorf("1000 msg/s for 20ms made %d sends, want 20", len(got))
	}
	for _, r := range got {
		if r.actual < r.intended {
			t.Errorf("send %d at %v, before its intended time %v", r.k, r.actual, r.intended)
		}
	}
}

func TestPaceCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := monoClock{epoch: time.Now()}
	s := NewSchedule(0, 10, 1, 0) // 100ms apart
	n := 0
	err := s.pace(ctx, clk, 0, 0, func(uint64, time.Duration) error {
		n++
		cancel()
		return nil
	})
	if err != context.Canceled || n != 1 {
		t.Errorf("pace after cancel = %d sends, %v; want 1, context.Canceled", n, err)
	}
}

func TestPaceTick(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64 // one publisher
		tick     time.Duration
		end      time.Duration
		wantWake int // distinct send times
	}{
		// 10 per ms: one wake-up per tick after the first send, due at 0.
		{"ten per tick", 10_000, time.Millisecond, 10 * time.Millisecond, 11},
		// 1 per 2ms: slower than the tick, every send exactly on time.
		{"slower than the tick", 500, time.Millisecond, 20 * time.Millisecond, 10},
		{"no tick", 10_000, 0, 2 * time.Millisecond, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{}
			s := NewSchedule(0, tt.rate, 1, 0).WithTick(tt.tick)
			var got []sendRecord
			err := s.pace(context.Background(), clk, tt.end, 0, func(k uint64, intended time.Duration) error {
				got = append(got, sendRecord{k, intended, clk.now})
				return nil
			})
			if err != nil {
				t.Fatalf("pace = %v", err)
			}
			if want := int(float64(tt.end) / float64(time.Second) * tt.rate); len(got) != want {
				t.Fatalf("pace made %d sends, want %d (the rate holds): %v", len(got), want, got)
			}
			wakes := map[time.Duration]bool{}
			for i, r := range got {
				wakes[r.actual] = true
				if r.k != uint64(i) || r.intended != s.At(r.k) {
					t.Errorf("send %d = %+v, want k %d intended %v (a tick must not move intended times)", i, r, i, s.At(uint64(i)))
				}
				if r.actual < r.intended || r.actual-r.intended >= max(tt.tick, 1) {
					t.Errorf("send %d intended %v made at %v, want within [intended, intended+%v)", i, r.intended, r.actual, tt.tick)
				}
				if tt.tick > 0 && r.actual != r.intended && r.actual%tt.tick != 0 {
					t.Errorf("send %d held back to %v, not a multiple of the %v tick", i, r.actual, tt.tick)
				}
			}
			if len(wakes) != tt.wantWake {
				t.Errorf("sends made at %d distinct times, want %d: %v", len(wakes), tt.wantWake, got)
			}
		})
	}
}

// TestPaceTickShared checks that publishers with staggered schedules wake
// together on the tick grid, so each wake-up sends several due messages.
func TestPaceTickShared(t *testing.T) {
	const pubs = 4
	tick, end := time.Millisecond, 5*time.Millisecond
	sends := map[time.Duration]int{}
	for i := range pubs {
		clk := &fakeClock{}
		s := NewSchedule(0, 40_000, pubs, i).WithTick(tick) // 10 per ms each, staggered by 25µs
		err := s.pace(context.Background(), clk, end, 0, func(k uint64, intended time.Duration) error {
			if clk.now%tick != 0 || clk.now < intended || clk.now-intended >= tick {
				t.Errorf("publisher %d send %d intended %v made at %v, want the first multiple of %v at or after it", i, k, intended, clk.now, tick)
			}
			sends[clk.now]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Publisher 0's first send is due at 0; every other send waits for one
	// of the five ticks that follow.
	if len(sends) != 6 {
		t.Errorf("sends made at %d distinct times, want 6 (0 and five ticks): %v", len(sends), sends)
	}
}

// TestIncomingRate checks the packets per second a run expects from the
// broker, which decides whether paced publishers need a timerfd to wake on
// time.
func TestIncomingRate(t *testing.T) {
	// mk builds a run with pubs publishers and one subscriber per entry of
	// from, listening to those publishers.
	mk := func(rate float64, qos packet.QoS, pubs int, from ...[]int) *run {
		r := &run{cfg: &Config{Rate: rate}, qos: qos}
		for i := 0; i < pubs; i++ {
			r.pubs = append(r.pubs, &publisher{idx: i})
		}
		for _, f := range from {
			r.subs = append(r.subs, &subscriber{from: f, counts: true})
		}
		return r
	}
	tests := []struct {
		name string
		r    *run
		want float64
	}{
		{"pair 4 -> 4, QoS 0", mk(60000, 0, 4, []int{0}, []int{1}, []int{2}, []int{3}), 60000},
		{"pair 4 -> 4, QoS 1: plus a PUBACK a message", mk(20000, 1, 4, []int{0}, []int{1}, []int{2}, []int{3}), 40000},
		{"pair 4 -> 4, QoS 2: PUBLISH and PUBREL a delivery, PUBREC and PUBCOMP a send", mk(20000, 2, 4, []int{0}, []int{1}, []int{2}, []int{3}), 80000},
		{"fan-out 1 -> 3", mk(1000, 0, 1, []int{0}, []int{0}, []int{0}), 3000},
		{"fan-in 2 -> 1", mk(1000, 0, 2, []int{0, 1}), 1000},
		{"publishers only", mk(50000, 0, 2), 0},
		{"shared subscription: the group of 3 gets each message once", func() *run {
			r := mk(1000, 0, 2, []int{0, 1}, []int{0, 1}, []int{0, 1})
			g := &shareGroup{}
			for j, s := range r.subs {
				s.group, s.counts = g, j == 0
			}
			return r
		}(), 1000},
		{"no publishers", mk(50000, 0, 0, []int{}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.incomingRate(); got != tt.want {
				t.Errorf("incomingRate() = %v, want %v", got, tt.want)
			}
		})
	}
}
