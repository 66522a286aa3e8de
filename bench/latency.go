package bench

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range and precision: 1 µs to 60 s, 3 significant digits. Values
// are recorded in microseconds.
const (
	histLowest  = 1
	histHighest = 60_000_000
	histDigits  = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// record adds d to h, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > histHighest {
		us = histHighest
	}
	_ = h.RecordValue(us) // cannot fail inside the range
}

// Latency summarises one latency histogram. Values are microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Min    int64   `json:"min_us"`
	P50    int64   `json:"p50_us"`
	P90    int64   `json:"p90_us"`
	P99    int64   `json:"p99_us"`
	P999   int64   `json:"p99_9_us"`
	P9999  int64   `json:"p99_99_us"`
	Max    int64   `json:"max_us"`
	Mean   float64 `json:"mean_us"`
	StdDev float64 `json:"stddev_us"`
	// Hist is the whole histogram, so results can be merged exactly.
	Hist *Histogram `json:"histogram,omitempty"`
}

// Histogram is an HdrHistogram snapshot in a compact JSON form: only the
// non-zero counts, as [index, count] pairs.
type Histogram struct {
	Lowest  int64      `json:"lowest"`
	Highest int64      `json:"highest"`
	Digits  int64      `json:"digits"`
	Counts  [][2]int64 `json:"counts"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	s := h.Export()
	jh := &Histogram{Lowest: s.LowestTrackableValue, Highest: s.HighestTrackableValue, Digits: s.SignificantFigures}
	for i, c := range s.Counts {
		if c != 0 {
			jh.Counts = append(jh.Counts, [2]int64{int64(i), c})
		}
	}
	return Latency{
		Count:  h.TotalCount(),
		Min:    h.Min(),
		P50:    h.ValueAtQuantile(50),
		P90:    h.ValueAtQuantile(90),
		P99:    h.ValueAtQuantile(99),
		P999:   h.ValueAtQuantile(99.9),
		P9999:  h.ValueAtQuantile(99.99),
		Max:    h.Max(),
		Mean:   h.Mean(),
		StdDev: h.StdDev(),
		Hist:   jh,
	}
}

// histogram rebuilds l's HdrHistogram. A Latency with no samples gives an
// empty histogram.
func (l Latency) histogram() (*hdrhistogram.Histogram, error) {
	if l.Hist == nil {
		if l.Count != 0 {
			return nil, errors.New("bench: latency has samples but no histogram")
		}
		return newHist(), nil
	}
	s := &hdrhistogram.Snapshot{
		LowestTrackableValue:  l.Hist.Lowest,
		HighestTrackableValue: l.Hist.Highest,
		SignificantFigures:    l.Hist.Digits,
	}
	if s.LowestTrackableValue != histLowest || s.HighestTrackableValue != histHighest || s.SignificantFigures != histDigits {
		return nil, fmt.Errorf("bench: histogram range %d-%d/%d digits, want %d-%d/%d",
			s.LowestTrackableValue, s.HighestTrackableValue, s.SignificantFigures, histLowest, histHighest, histDigits)
	}
	var n int
	for _, ic := range l.Hist.Counts {
		n = max(n, int(min(ic[0], 1<<20))+1)
	}
	if n > len(newHist().Export().Counts) {
		return nil, fmt.Errorf("bench: histogram index %d out of range", n-1)
	}
	s.Counts = make([]int64, n)
	for _, ic := range l.Hist.Counts {
		if ic[0] < 0 {
			return nil, fmt.Errorf("bench: histogram index %d out of range", ic[0])
		}
		s.Counts[ic[0]] += ic[1]
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("bench: histogram: %w", err)
	}
	return hdrhistogram.Import(s), nil
}

// Duration returns a microsecond value as a time.Duration.
func Duration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// HgrmWrite writes l's percentile distribution in HdrHistogram's text
// format (.hgrm, as wrk2 --latency prints and HdrHistogram's plotter reads),
// with values in milliseconds.
func HgrmWrite(w io.Writer, l Latency) error {
	h, err := l.histogram()
	if err != nil {
		return err
	}
	_, err = h.PercentilesPrint(w, 5, 1000)
	return err
}
