package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Op is a comparison in a threshold.
type Op int

// Comparisons, as written in a threshold.
const (
	Less Op = iota
	LessEq
	Greater
	GreaterEq
	Equal
	NotEqual
)

var opNames = [...]string{"<", "<=", ">", ">=", "=", "!="}

// String returns the operator as written.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

func (o Op) holds(a, b float64) bool {
	switch o {
	case Less:
		return a < b
	case LessEq:
		return a <= b
	case Greater:
		return a > b
	case GreaterEq:
		return a >= b
	case Equal:
		return a == b
	case NotEqual:
		return a != b
	}
	return false
}

// Threshold is one --threshold condition, e.g. e2e.p99<5ms, that every QoS
// run of a result must meet.
type Threshold struct {
	Metric string
	Op     Op
	Value  float64 // microseconds for latencies
	Text   string
}

type metric struct {
	latency bool // value is a duration; the run needs samples
	get     func(r *QoSRun) (float64, bool)
}

var latencyStats = map[string]func(l Latency) float64{
	"min":    func(l Latency) float64 { return float64(l.Min) },
	"p50":    func(l Latency) float64 { return float64(l.P50) },
	"p90":    func(l Latency) float64 { return float64(l.P90) },
	"p99":    func(l Latency) float64 { return float64(l.P99) },
	"p99.9":  func(l Latency) float64 { return float64(l.P999) },
	"p99.99": func(l Latency) float64 { return float64(l.P9999) },
	"max":    func(l Latency) float64 { return float64(l.Max) },
	"mean":   func(l Latency) float64 { return l.Mean },
}

var latencyFamilies = map[string]func(r *QoSRun) Latency{
	"e2e":   func(r *QoSRun) Latency { return r.E2E },
	"e2e_u": func(r *QoSRun) Latency { return r.E2EUncorrected },
	"ack":   func(r *QoSRun) Latency { return r.Ack },
	"ack_u": func(r *QoSRun) Latency { return r.AckUncorrected },
}

var plainMetrics = map[string]func(r *QoSRun) float64{
	"sent":      func(r *QoSRun) float64 { return float64(r.Sent) },
	"recv":      func(r *QoSRun) float64 { return float64(r.Received) },
	"lost":      func(r *QoSRun) float64 { return float64(r.Lost) },
	"dup":       func(r *QoSRun) float64 { return float64(r.Dup) },
	"reordered": func(r *QoSRun) float64 { return float64(r.Reordered) },
	"late":      func(r *QoSRun) float64 { return float64(r.Late) },
	"failed":    func(r *QoSRun) float64 { return float64(r.Failed) },
	"sent.rate": func(r *QoSRun) float64 { return r.SentRate },
	"recv.rate": func(r *QoSRun) float64 { return r.RecvRate },
	"sent.mbps": func(r *QoSRun) float64 { return r.SentMBps },
	"recv.mbps": func(r *QoSRun) float64 { return r.RecvMBps },
	"cpu":       func(r *QoSRun) float64 { return r.CPU.Percent },
}

func lookupMetric(name string) (metric, bool) {
	if f, ok := plainMetrics[name]; ok {
		return metric{get: func(r *QoSRun) (float64, bool) { return f(r), true }}, true
	}
	fam, stat, ok := strings.Cut(name, ".")
	if !ok {
		return metric{}, false
	}
	lf, ok1 := latencyFamilies[fam]
	sf, ok2 := latencyStats[stat]
	if !ok1 || !ok2 {
		return metric{}, false
	}
	return metric{latency: true, get: func(r *QoSRun) (float64, bool) {
		l := lf(r)
		return sf(l), l.Count > 0
	}}, true
}

// ParseThreshold parses "metric op value": metric is e2e, e2e_u, ack or
// ack_u followed by .p50 .p90 .p99 .p99.9 .p99.99 .max .mean or .min (value
// a duration such as 5ms or 250us), or one of sent recv lost dup reordered
// late failed (counts), sent.rate recv.rate (msg/s), sent.mbps recv.mbps
// (MB/s), cpu (percent of one core); op is < <= > >= = == or !=.
func ParseThreshold(s string) (Threshold, error) {
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return Threshold{}, fmt.Errorf("bench: threshold %q: no comparison (< <= > >= = !=)", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op Op
	switch {
	case strings.HasPrefix(rest, "<="):
		op, rest = LessEq, rest[2:]
	case strings.HasPrefix(rest, ">="):
		op, rest = GreaterEq, rest[2:]
	case strings.HasPrefix(rest, "=="):
		op, rest = Equal, rest[2:]
	case strings.HasPrefix(rest, "!="):
		op, rest = NotEqual, rest[2:]
	case strings.HasPrefix(rest, "<"):
		op, rest = Less, rest[1:]
	case strings.HasPrefix(rest, ">"):
		op, rest = Greater, rest[1:]
	case strings.HasPrefix(rest, "="):
		op, rest = Equal, rest[1:]
	default:
		return Threshold{}, fmt.Errorf("bench: threshold %q: bad comparison", s)
	}
	m, ok := lookupMetric(name)
	if !ok {
		return Threshold{}, fmt.Errorf("bench: threshold %q: unknown metric %q", s, name)
	}
	vs := strings.TrimSpace(rest)
	t := Threshold{Metric: name, Op: op, Text: s}
	if m.latency {
		d, err := time.ParseDuration(vs)
		if err != nil {
			return Threshold{}, fmt.Errorf("bench: threshold %q: %q is not a duration such as 5ms", s, vs)
		}
		t.Value = float64(d) / float64(time.Microsecond)
		return t, nil
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil || v != v {
		return Threshold{}, fmt.Errorf("bench: threshold %q: %q is not a number", s, vs)
	}
	t.Value = v
	return t, nil
}

// Check evaluates t against every run of r and returns one line per run
// that fails it. A latency threshold fails when no run has samples for it.
func (t Threshold) Check(r *Result) []string {
	m, ok := lookupMetric(t.Metric)
	if !ok {
		return []string{fmt.Sprintf("threshold %s: unknown metric", t.Text)}
	}
	var fails []string
	checked := 0
	for i := range r.Runs {
		q := &r.Runs[i]
		v, ok := m.get(q)
		if !ok {
			continue
		}
		checked++
		if !t.Op.holds(v, t.Value) {
			fails = append(fails, fmt.Sprintf("threshold %s failed at qos %d: %s = %s", t.Text, q.QoS, t.Metric, t.show(m, v)))
		}
	}
	if checked == 0 {
		fails = append(fails, fmt.Sprintf("threshold %s: no run has %s samples", t.Text, t.Metric))
	}
	return fails
}

func (t Threshold) show(m metric, v float64) string {
	if m.latency {
		return time.Duration(v * float64(time.Microsecond)).String()
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// CheckAll evaluates every threshold against r.
func CheckAll(ts []Threshold, r *Result) []string {
	var fails []string
	for _, t := range ts {
		fails = append(fails, t.Check(r)...)
	}
	return fails
}
