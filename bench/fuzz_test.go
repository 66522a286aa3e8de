package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzMergeResult feeds arbitrary JSON to ReadResult and Merge, as
// `bench merge` does with files from elsewhere: errors are fine, panics
// are not.
func FuzzMergeResult(f *testing.F) {
	h := newHist()
	for i := 1; i <= 100; i++ {
		record(h, time.Duration(i)*time.Millisecond)
	}
	var buf bytes.Buffer
	if err := (&Result{Format: ResultFormat, Runs: []QoSRun{{QoS: 1, Sent: 100, Seconds: 1, E2E: summarize(h)}}}).WriteJSON(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add(`{"format":1,"runs":[{"qos":1,"e2e":{"count":1,"histogram":{"lowest":1,"highest":60000000,"digits":3,"counts":[[99999999,1]]}}}]}`)
	f.Add(`{"format":1,"runs":[{"qos":1,"e2e":{"count":1,"histogram":{"lowest":0,"highest":-5,"digits":9,"counts":[[1,-1]]}}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ReadResult(strings.NewReader(in))
		if err != nil {
			return
		}
		m, err := Merge(r, r)
		if err != nil {
			return
		}
		for _, q := range m.Runs {
			if q.E2E.Count < 0 || q.Ack.Count < 0 {
				t.Errorf("merged counts negative: %+v", q)
			}
		}
		_ = CheckAll([]Threshold{{Metric: "e2e.p99", Op: Less, Value: 1, Text: "e2e.p99<1us"}}, m)
	})
}

// FuzzParseThreshold: any string gives a threshold or a one-line error.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"e2e.p99<5ms", "lost=0", "recv.rate>=1000", "ack.p99.9!=1s", "<", "x.p99<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		th, err := ParseThreshold(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(in, "\n") {
				t.Errorf("ParseThreshold(%q) error has a newline: %q", in, err)
			}
			return
		}
		_ = th.Check(&Result{Runs: []QoSRun{{QoS: 1}}})
	})
}
