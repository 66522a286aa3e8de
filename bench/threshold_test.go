package bench

import (
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in     string
		metric string
		op     Op
		value  float64
	}{
		{"e2e.p99<5ms", "e2e.p99", Less, 5000},
		{"lost=0", "lost", Equal, 0},
		{"lost==0", "lost", Equal, 0},
		{"ack.p50<=2ms", "ack.p50", LessEq, 2000},
		{"recv.rate>=1000", "recv.rate", GreaterEq, 1000},
		{" e2e.p99.9 < 250us ", "e2e.p99.9", Less, 250},
		{"e2e_u.p99.99>1.5s", "e2e_u.p99.99", Greater, 1_500_000},
		{"ack_u.max!=0s", "ack_u.max", NotEqual, 0},
		{"dup<1", "dup", Less, 1},
		{"cpu<80", "cpu", Less, 80},
		{"sent.mbps>0.5", "sent.mbps", Greater, 0.5},
		{"e2e.mean<1ms", "e2e.mean", Less, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatalf("ParseThreshold(%q) = %v", tt.in, err)
			}
			if got.Metric != tt.metric || got.Op != tt.op || got.Value != tt.value {
				t.Errorf("ParseThreshold(%q) = %s %s %v, want %s %s %v", tt.in, got.Metric, got.Op, got.Value, tt.metric, tt.op, tt.value)
			}
		})
	}
}

func TestParseThresholdErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"e2e.p99", "no comparison"},
		{"", "no comparison"},
		{"e2e.p98<5ms", "unknown metric"},
		{"bogus=1", "unknown metric"},
		{"e2e.p99<5", "not a duration"},
		{"lost=zero", "not a number"},
		{"lost=NaN", "not a number"},
		{"lost=>1", "not a number"},
		{"=1", "unknown metric"},
		{"lost!1", "bad comparison"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseThreshold(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseThreshold(%q) = %v, want one-line error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestThresholdCheck(t *testing.T) {
	res := &Result{Runs: []QoSRun{
		{QoS: 0, Lost: 3, RecvRate: 900, E2E: Latency{Count: 10, P99: 4000}},
		{QoS: 1, Lost: 0, RecvRate: 1200, E2E: Latency{Count: 10, P99: 6000}, Ack: Latency{Count: 10, P50: 1500}},
	}}
	tests := []struct {
		in        string
		wantFails int
		wantText  string
	}{
		{"e2e.p99<5ms", 1, "failed at qos 1: e2e.p99 = 6ms"},
		{"e2e.p99<10ms", 0, ""},
		{"lost=0", 1, "failed at qos 0: lost = 3"},
		{"recv.rate>=1000", 1, "qos 0"},
		{"ack.p50<=2ms", 0, ""}, // qos 0 has no ack samples: skipped
		{"ack.p50<=1ms", 1, "qos 1: ack.p50 = 1.5ms"},
		{"ack_u.p99<1s", 1, "no run has ack_u.p99 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			th, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			fails := CheckAll([]Threshold{th}, res)
			if len(fails) != tt.wantFails || (tt.wantText != "" && !strings.Contains(strings.Join(fails, "\n"), tt.wantText)) {
				t.Errorf("Check(%q) = %q, want %d failures mentioning %q", tt.in, fails, tt.wantFails, tt.wantText)
			}
		})
	}
}
