package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// ResultFormat is the version of the JSON form of Result.
const ResultFormat = 1

// Result is everything one bench run measured: one QoSRun per QoS level.
type Result struct {
	Format  int         `json:"format"`
	RunID   string      `json:"run_id"`
	Target  string      `json:"target"`
	Started time.Time   `json:"started"`
	Config  RunSettings `json:"config"`
	Runs    []QoSRun    `json:"runs"`
	// Merged is how many results were merged into this one (0: not merged).
	Merged int    `json:"merged,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RunSettings records the load a result was measured under.
type RunSettings struct {
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Topic       string  `json:"topic"`
	Size        int     `json:"size"`
	Rate        float64 `json:"rate"`
	Inflight    int     `json:"inflight"`
	Duration    string  `json:"duration"`
	Warmup      string  `json:"warmup"`
	Count       uint64  `json:"count"`
	Retain      bool    `json:"retain"`
	Tick        string  `json:"tick"`
	Procs       int     `json:"procs"` // GOMAXPROCS during the run
}

// QoSRun is one QoS level's figures. Sent and Received count the sends and
// deliveries that happened in the measured window (after warm-up), and give
// the rates; latencies are of the messages meant to be sent in it.
// Published, Expected, Delivered, Lost, Dup and Reordered cover the whole
// run, warm-up and drain included.
type QoSRun struct {
	QoS     int     `json:"qos"`
	Seconds float64 `json:"seconds"`

	Sent      int64 `json:"sent"`
	SentBytes int64 `json:"sent_bytes"`
	Received  int64 `json:"received"`
	RecvBytes int64 `json:"received_bytes"`
	// Late counts sends that started more than LateAfter behind schedule.
	Late int64 `json:"late"`
	// Failed counts publishes the client reported as failed.
	Failed int64 `json:"failed"`

	Published int64 `json:"published"`
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	Lost      int64 `json:"lost"`
	Dup       int64 `json:"dup"`
	Reordered int64 `json:"reordered"`
	// Foreign counts messages on bench topics without this run's header.
	Foreign int64 `json:"foreign"`

	SentRate float64 `json:"sent_per_s"`
	RecvRate float64 `json:"received_per_s"`
	SentMBps float64 `json:"sent_mb_per_s"`
	RecvMBps float64 `json:"received_mb_per_s"`

	// E2E is publish to delivery, from the intended send time (corrected for
	// coordinated omission); E2EUncorrected from the actual send time.
	E2E            Latency `json:"e2e"`
	E2EUncorrected Latency `json:"e2e_uncorrected"`
	// Ack is publish to PUBACK (QoS 1) or PUBCOMP (QoS 2), likewise.
	Ack            Latency `json:"ack"`
	AckUncorrected Latency `json:"ack_uncorrected"`

	CPU    CPU      `json:"cpu"`
	Series []Second `json:"series,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// CPU is the generator's own CPU use over a run.
type CPU struct {
	User   float64 `json:"user_s"`
	System float64 `json:"system_s"`
	Wall   float64 `json:"wall_s"`
	// Percent of one core: 100 means one core busy all the time.
	Percent float64 `json:"percent"`
}

// Second is one second of the measured window.
type Second struct {
	T        int   `json:"t"`
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	Late     int64 `json:"late"`
	E2EP50   int64 `json:"e2e_p50_us"`
	E2EP99   int64 `json:"e2e_p99_us"`
	E2EMax   int64 `json:"e2e_max_us"`
	AckP50   int64 `json:"ack_p50_us"`
	AckP99   int64 `json:"ack_p99_us"`
}

// rates fills the derived per-second figures.
func (r *QoSRun) rates() {
	r.SentRate, r.RecvRate, r.SentMBps, r.RecvMBps = 0, 0, 0, 0
	if r.Seconds <= 0 {
		return
	}
	r.SentRate = float64(r.Sent) / r.Seconds
	r.RecvRate = float64(r.Received) / r.Seconds
	r.SentMBps = float64(r.SentBytes) / r.Seconds / 1e6
	r.RecvMBps = float64(r.RecvBytes) / r.Seconds / 1e6
}

// LossIsError reports whether r's losses are a failure: at QoS 1 and 2 the
// broker must deliver every message [MQTT-4.3.2], [MQTT-4.3.3].
func (r *QoSRun) LossIsError() bool { return r.QoS > 0 && r.Lost > 0 }

// DupIsError reports whether r's duplicates are a failure: QoS 2 is
// delivered exactly once [MQTT-4.3.3]; QoS 1 allows duplicates.
func (r *QoSRun) DupIsError() bool { return r.QoS == 2 && r.Dup > 0 }

// Problems lists what went wrong in r, one line each.
func (r *QoSRun) Problems() []string {
	var p []string
	if r.Error != "" {
		p = append(p, r.Error)
	}
	if r.LossIsError() {
		p = append(p, fmt.Sprintf("qos %d: %d of %d messages lost", r.QoS, r.Lost, r.Expected))
	}
	if r.DupIsError() {
		p = append(p, fmt.Sprintf("qos %d: %d duplicate deliveries", r.QoS, r.Dup))
	}
	if r.Failed > 0 {
		p = append(p, fmt.Sprintf("qos %d: %d publishes failed", r.QoS, r.Failed))
	}
	return p
}

// Problems lists what went wrong in every run of r.
func (r *Result) Problems() []string {
	var p []string
	if r.Error != "" {
		p = append(p, r.Error)
	}
	for i := range r.Runs {
		p = append(p, r.Runs[i].Problems()...)
	}
	return p
}

// busyCPU is the share of a core per GOMAXPROCS thread, in percent, from
// which bench may itself be the limit; lateShare the share of sends started
// late, and lateMin their number, from which it fell behind its schedule.
// Runs measured for less than warnAfter get no warnings: their figures are
// too few to judge.
const (
	busyCPU   = 90
	lateShare = 0.01
	lateMin   = 100
	warnAfter = time.Second
)

// Warnings lists what makes r's figures doubtful without failing the run,
// one line each: bench near the end of its CPU, so that it and not the
// broker may be the limit, or bench falling behind its schedule, which
// shows in the latency counted from the intended send times.
func (r *Result) Warnings() []string {
	var w []string
	procs := max(r.Config.Procs, 1)
	for _, q := range r.Runs {
		if q.Seconds < warnAfter.Seconds() {
			continue
		}
		if q.CPU.Percent >= busyCPU*float64(procs) {
			w = append(w, fmt.Sprintf("qos %d: bench used %.0f%% of a core with %d thread(s) for Go code (--procs): bench, not the broker, may be the limit",
				q.QoS, q.CPU.Percent, procs))
		}
		if q.Late >= lateMin && float64(q.Late) >= lateShare*float64(q.Sent) {
			w = append(w, fmt.Sprintf("qos %d: %d of %d sends started over %v behind schedule: bench fell behind, and the latency counts it",
				q.QoS, q.Late, q.Sent, LateAfter))
		}
	}
	return w
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadResult decodes a result written by WriteJSON.
func ReadResult(rd io.Reader) (*Result, error) {
	var r Result
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("bench: read result: %w", err)
	}
	if r.Format != ResultFormat {
		return nil, fmt.Errorf("bench: result format %d, want %d", r.Format, ResultFormat)
	}
	return &r, nil
}

// Merge combines results measured at the same time on several machines:
// runs are matched by QoS; counts and bytes are summed, histograms merged
// exactly, the measured window is the longest of them, so rates are totals.
func Merge(results ...*Result) (*Result, error) {
	if len(results) == 0 {
		return nil, errors.New("bench: merge: no results")
	}
	out := &Result{Format: ResultFormat, RunID: "merged", Target: results[0].Target,
		Started: results[0].Started, Config: results[0].Config}
	byQoS := map[int]int{}
	type hists struct{ e2e, e2eU, ack, ackU []Latency }
	hs := map[int]*hists{}
	for _, r := range results {
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Target != out.Target {
			out.Target = "several"
		}
		if r.Error != "" {
			out.Error = joinErr(out.Error, r.Error)
		}
		out.Merged += max(r.Merged, 1)
		for _, q := range r.Runs {
			i, ok := byQoS[q.QoS]
			if !ok {
				i = len(out.Runs)
				byQoS[q.QoS] = i
				out.Runs = append(out.Runs, QoSRun{QoS: q.QoS})
				hs[q.QoS] = &hists{}
			}
			m := &out.Runs[i]
			m.Seconds = max(m.Seconds, q.Seconds)
			m.Sent += q.Sent
			m.SentBytes += q.SentBytes
			m.Received += q.Received
			m.RecvBytes += q.RecvBytes
			m.Late += q.Late
			m.Failed += q.Failed
			m.Published += q.Published
			m.Expected += q.Expected
			m.Delivered += q.Delivered
			m.Lost += q.Lost
			m.Dup += q.Dup
			m.Reordered += q.Reordered
			m.Foreign += q.Foreign
			m.CPU.User += q.CPU.User
			m.CPU.System += q.CPU.System
			m.CPU.Wall = max(m.CPU.Wall, q.CPU.Wall)
			m.CPU.Percent = max(m.CPU.Percent, q.CPU.Percent)
			if q.Error != "" {
				m.Error = joinErr(m.Error, q.Error)
			}
			m.Series = mergeSeries(m.Series, q.Series)
			h := hs[q.QoS]
			h.e2e = append(h.e2e, q.E2E)
			h.e2eU = append(h.e2eU, q.E2EUncorrected)
			h.ack = append(h.ack, q.Ack)
			h.ackU = append(h.ackU, q.AckUncorrected)
		}
	}
	for i := range out.Runs {
		m := &out.Runs[i]
		h := hs[m.QoS]
		var err error
		for _, x := range []struct {
			dst *Latency
			src []Latency
		}{{&m.E2E, h.e2e}, {&m.E2EUncorrected, h.e2eU}, {&m.Ack, h.ack}, {&m.AckUncorrected, h.ackU}} {
			if *x.dst, err = mergeLatency(x.src); err != nil {
				return nil, fmt.Errorf("bench: merge qos %d: %w", m.QoS, err)
			}
		}
		m.rates()
	}
	return out, nil
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func mergeLatency(ls []Latency) (Latency, error) {
	total := newHist()
	for _, l := range ls {
		h, err := l.histogram()
		if err != nil {
			return Latency{}, err
		}
		if dropped := total.Merge(h); dropped != 0 {
			return Latency{}, fmt.Errorf("%d values out of range", dropped)
		}
	}
	return summarize(total), nil
}

// mergeSeries sums the counts of matching seconds; per-second percentiles
// cannot be merged exactly, so the merged second keeps the largest.
func mergeSeries(a, b []Second) []Second {
	for _, s := range b {
		found := false
		for i := range a {
			if a[i].T == s.T {
				a[i].Sent += s.Sent
				a[i].Received += s.Received
				a[i].Late += s.Late
				a[i].E2EP50 = max(a[i].E2EP50, s.E2EP50)
				a[i].E2EP99 = max(a[i].E2EP99, s.E2EP99)
				a[i].E2EMax = max(a[i].E2EMax, s.E2EMax)
				a[i].AckP50 = max(a[i].AckP50, s.AckP50)
				a[i].AckP99 = max(a[i].AckP99, s.AckP99)
				found = true
				break
			}
		}
		if !found {
			a = append(a, s)
		}
	}
	return a
}

// rusage returns the process's user and system CPU time so far.
func rusage() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// cpuMeter measures the process's CPU use between start and stop.
type cpuMeter struct {
	user, sys time.Duration
	wall      time.Time
}

func startCPU() cpuMeter {
	u, s := rusage()
	return cpuMeter{user: u, sys: s, wall: time.Now()}
}

func (m cpuMeter) stop() CPU {
	u, s := rusage()
	wall := time.Since(m.wall)
	c := CPU{User: (u - m.user).Seconds(), System: (s - m.sys).Seconds(), Wall: wall.Seconds()}
	if wall > 0 {
		c.Percent = 100 * (c.User + c.System) / c.Wall
	}
	return c
}
