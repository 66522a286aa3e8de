package bench

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordClamps(t *testing.T) {
	h := newHist()
	record(h, -5*time.Millisecond)
	record(h, 1500*time.Nanosecond)
	record(h, 2*time.Minute)
	l := summarize(h)
	if l.Count != 3 || l.Min != 0 || l.Max < histHighest*999/1000 || l.Max > histHighest*1001/1000 {
		t.Errorf("summarize after -5ms, 1.5us, 2m = count %d min %d max %d; want 3, 0, ~%d", l.Count, l.Min, l.Max, histHighest)
	}
}

func TestLatencyJSONRoundTrip(t *testing.T) {
	h := newHist()
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		record(h, time.Duration(r.ExpFloat64()*float64(300*time.Microsecond)))
	}
	res := &Result{Format: ResultFormat, RunID: "x", Runs: []QoSRun{{QoS: 1, Sent: 10000, E2E: summarize(h)}}}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResult(&buf)
	if err != nil {
		t.Fatalf("ReadResult(WriteJSON) = %v", err)
	}
	if diff := cmp.Diff(res, got); diff != "" {
		t.Errorf("ReadResult(WriteJSON(r)) mismatch (-want +got):\n%s", diff)
	}
	back, err := got.Runs[0].E2E.histogram()
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equals(h) {
		t.Errorf("histogram after JSON round trip differs from the original")
	}
}

func TestReadResultErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not json", "hello"},
		{"wrong format", `{"format":99}`},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadResult(strings.NewReader(tt.in)); err == nil {
				t.Errorf("ReadResult(%q) = nil error", tt.in)
			}
		})
	}
}

func TestHistogramHostile(t *testing.T) {
	tests := []struct {
		name string
		l    Latency
	}{
		{"samples without histogram", Latency{Count: 5}},
		{"negative index", Latency{Count: 1, Hist: &Histogram{Lowest: 1, Highest: histHighest, Digits: 3, Counts: [][2]int64{{-1, 1}}}}},
		{"huge index", Latency{Count: 1, Hist: &Histogram{Lowest: 1, Highest: histHighest, Digits: 3, Counts: [][2]int64{{1 << 40, 1}}}}},
		{"negative count", Latency{Count: 1, Hist: &Histogram{Lowest: 1, Highest: histHighest, Digits: 3, Counts: [][2]int64{{5, -1}}}}},
		{"other range", Latency{Count: 1, Hist: &Histogram{Lowest: 1, Highest: 1000, Digits: 2, Counts: [][2]int64{{5, 1}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.l.histogram(); err == nil {
				t.Errorf("histogram(%+v) = nil error", tt.l)
			}
			if _, err := Merge(&Result{Format: 1, Runs: []QoSRun{{E2E: tt.l}}}); err == nil {
				t.Errorf("Merge of a result with %s = nil error", tt.name)
			}
		})
	}
}

// TestMergeExact checks that merging results gives the percentiles of one
// histogram fed every sample, and sums the counts.
func TestMergeExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	all := newHist()
	var parts []*Result
	var sent int64
	for p := range 3 {
		h := newHist()
		ack := newHist()
		n := 2000 + 1000*p
		for range n {
			d := time.Duration(r.ExpFloat64() * float64(time.Duration(p+1)*time.Millisecond))
			record(h, d)
			record(all, d)
			record(ack, d/2)
		}
		sent += int64(n)
		q := QoSRun{QoS: 1, Seconds: float64(9 + p), Sent: int64(n), SentBytes: int64(n) * 64, Received: int64(n),
			Expected: int64(n), Delivered: int64(n), Lost: int64(p), E2E: summarize(h), Ack: summarize(ack),
			Series: []Second{{T: 0, Sent: 5}, {T: 1, Sent: 7}}}
		// Go through JSON, as bench merge does.
		var buf bytes.Buffer
		if err := (&Result{Format: ResultFormat, Runs: []QoSRun{q}}).WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		res, err := ReadResult(&buf)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, res)
	}
	m, err := Merge(parts...)
	if err != nil {
		t.Fatalf("Merge = %v", err)
	}
	if len(m.Runs) != 1 || m.Merged != 3 {
		t.Fatalf("Merge gave %d runs, merged %d; want 1, 3", len(m.Runs), m.Merged)
	}
	q := m.Runs[0]
	want := summarize(all)
	if diff := cmp.Diff(want, q.E2E); diff != "" {
		t.Errorf("merged e2e differs from one histogram fed all samples (-want +got):\n%s", diff)
	}
	if q.Sent != sent || q.Lost != 0+1+2 || q.Seconds != 11 || q.SentRate != float64(sent)/11 {
		t.Errorf("merged sent %d lost %d seconds %v rate %v; want %d, 3, 11, %v", q.Sent, q.Lost, q.Seconds, q.SentRate, sent, float64(sent)/11)
	}
	if q.Ack.Count != sent {
		t.Errorf("merged ack count %d, want %d", q.Ack.Count, sent)
	}
	if diff := cmp.Diff([]Second{{T: 0, Sent: 15}, {T: 1, Sent: 21}}, q.Series); diff != "" {
		t.Errorf("merged series (-want +got):\n%s", diff)
	}
}

func TestMergeQoSLevels(t *testing.T) {
	a := &Result{Format: 1, Runs: []QoSRun{{QoS: 0, Sent: 1}, {QoS: 1, Sent: 2}}}
	b := &Result{Format: 1, Runs: []QoSRun{{QoS: 1, Sent: 3}, {QoS: 2, Sent: 4}}, Error: "bench: broke"}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]int64{}
	for _, q := range m.Runs {
		got[q.QoS] = q.Sent
	}
	if diff := cmp.Diff(map[int]int64{0: 1, 1: 5, 2: 4}, got); diff != "" {
		t.Errorf("Merge sent by qos (-want +got):\n%s", diff)
	}
	if m.Error != "bench: broke" {
		t.Errorf("Merge error = %q, want the input's", m.Error)
	}
	if _, err := Merge(); err == nil {
		t.Error("Merge() = nil error")
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		run  QoSRun
		want int
	}{
		{"qos 0 loss is fine", QoSRun{QoS: 0, Lost: 5, Dup: 1}, 0},
		{"qos 1 loss", QoSRun{QoS: 1, Lost: 1}, 1},
		{"qos 1 dup is fine", QoSRun{QoS: 1, Dup: 3}, 0},
		{"qos 2 dup", QoSRun{QoS: 2, Dup: 1}, 1},
		{"qos 2 loss and dup", QoSRun{QoS: 2, Dup: 1, Lost: 1}, 2},
		{"failed publishes", QoSRun{QoS: 0, Failed: 1}, 1},
		{"error", QoSRun{QoS: 1, Error: "bench: connection lost"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run.Problems(); len(got) != tt.want {
				t.Errorf("Problems(%+v) = %q, want %d lines", tt.run, got, tt.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	run := func(procs int, qs ...QoSRun) *Result {
		return &Result{Config: RunSettings{Procs: procs}, Runs: qs}
	}
	tests := []struct {
		name string
		res  *Result
		want []string
	}{
		{"below both limits", run(1, QoSRun{QoS: 0, Seconds: 5, Sent: 100000, Late: 999, CPU: CPU{Percent: 89}}), nil},
		{"cpu at 90% of one thread", run(1, QoSRun{QoS: 1, Seconds: 5, Sent: 1000, CPU: CPU{Percent: 90}}),
			[]string{"qos 1: bench used 90% of a core with 1 thread(s) for Go code (--procs): bench, not the broker, may be the limit"}},
		{"two threads: 150% is not busy", run(2, QoSRun{QoS: 0, Seconds: 5, Sent: 1000, CPU: CPU{Percent: 150}}), nil},
		{"1% late", run(1, QoSRun{QoS: 2, Seconds: 5, Sent: 10000, Late: 100, CPU: CPU{Percent: 20}}),
			[]string{"qos 2: 100 of 10000 sends started over 2ms behind schedule: bench fell behind, and the latency counts it"}},
		{"over 1% late but fewer than 100", run(1, QoSRun{QoS: 0, Seconds: 5, Sent: 1000, Late: 99}), nil},
		{"nothing sent", run(1, QoSRun{QoS: 0, Seconds: 5}), nil},
		{"procs 0 counts as 1", run(0, QoSRun{QoS: 0, Seconds: 5, Sent: 10, CPU: CPU{Percent: 95}}),
			[]string{"qos 0: bench used 95% of a core with 1 thread(s) for Go code (--procs): bench, not the broker, may be the limit"}},
		{"a run shorter than a second is not judged", run(1, QoSRun{QoS: 0, Seconds: 0.9, Sent: 1000, Late: 500, CPU: CPU{Percent: 99}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.res.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("Warnings() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHgrmWrite(t *testing.T) {
	h := newHist()
	for i := 1; i <= 1000; i++ {
		record(h, time.Duration(i)*time.Microsecond)
	}
	var buf bytes.Buffer
	if err := HgrmWrite(&buf, summarize(h)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Value\tPercentile\tTotalCount\t1/(1-Percentile)", "#[Max     =        1.000, Total count    =         1000]", "       0.500     0.500000          500         2.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("HgrmWrite output lacks %q:\n%s", want, out)
		}
	}
}

func TestCPUMeter(t *testing.T) {
	m := startCPU()
	deadline := time.Now().Add(30 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	c := m.stop()
	if c.Wall < 0.03 || c.User+c.System <= 0 || c.Percent <= 0 {
		t.Errorf("CPU after 30ms busy loop (%d turns) = %+v, want wall >= 0.03s and some CPU", x, c)
	}
}
