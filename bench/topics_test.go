package bench

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopics(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		pubs, subs int
		wantFrom   [][]int // per subscriber, the publishers it hears
		wantTopic0 string
	}{
		{"pair", Config{Pattern: Pair}, 3, 3, [][]int{{0}, {1}, {2}}, "mqtool/bench/0000000000000007/q1/0"},
		{"pair with more subscribers", Config{Pattern: Pair}, 2, 4, [][]int{{0}, {1}, {0}, {1}}, "mqtool/bench/0000000000000007/q1/0"},
		{"fan-in", Config{Pattern: FanIn}, 3, 1, [][]int{{0, 1, 2}}, "mqtool/bench/0000000000000007/q1/all"},
		{"fan-out", Config{Pattern: FanOut}, 1, 3, [][]int{{0}, {0}, {0}}, "mqtool/bench/0000000000000007/q1/all"},
		{"template per index", Config{Topic: "t/%i"}, 2, 2, [][]int{{0}, {1}}, "t/0"},
		{"template per client id", Config{Topic: "t/%c"}, 2, 2, [][]int{{0}, {1}}, "t/x-7-q1-p0"},
		{"template without %", Config{Topic: "t/one"}, 2, 2, [][]int{{0, 1}, {0, 1}}, "t/one"},
		{"filter", Config{Topic: "t/%i", Filter: "t/+"}, 2, 1, [][]int{{0, 1}}, "t/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.IDPrefix = "x"
			r := &run{cfg: &cfg, qos: 1, id: 7}
			for i := range tt.pubs {
				r.pubs = append(r.pubs, &publisher{idx: i, id: fmt.Sprintf("x-7-q1-p%d", i)})
			}
			for j := range tt.subs {
				r.subs = append(r.subs, &subscriber{idx: j})
			}
			r.topics()
			var got [][]int
			for _, s := range r.subs {
				got = append(got, s.from)
				for i, k := range s.slot {
					if k >= len(r.pubs[i].heard) {
						t.Errorf("subscriber %d slot %d for publisher %d, which has %d", s.idx, k, i, len(r.pubs[i].heard))
					}
				}
			}
			if diff := cmp.Diff(tt.wantFrom, got); diff != "" {
				t.Errorf("routing (-want +got):\n%s", diff)
			}
			if r.pubs[0].topic != tt.wantTopic0 {
				t.Errorf("publisher 0 topic %q, want %q", r.pubs[0].topic, tt.wantTopic0)
			}
		})
	}
}
