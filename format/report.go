package format

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ANSI colours for bench reports.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

// BenchRow is one QoS level's line of the bench summary table.
type BenchRow struct {
	QoS      int
	SentRate float64 // messages/s
	RecvRate float64
	RecvMBps float64
	Lost     int64
	Dup      int64
	// LostBad and DupBad mark counts that are errors at this QoS.
	LostBad, DupBad bool
	// HasE2E and HasAck say whether the latencies were measured.
	HasE2E                          bool
	E2EP50, E2EP99, E2EP999, E2EMax time.Duration
	HasAck                          bool
	AckP50, AckP99                  time.Duration
	Late                            int64
	CPUPercent                      float64
}

var benchHeader = []string{"qos", "sent/s", "recv/s", "MB/s in", "lost", "dup",
	"e2e p50", "e2e p99", "e2e p99.9", "e2e max", "ack p50", "ack p99", "late", "cpu"}

// BenchTable writes rows as an aligned table, errors in red when color.
func BenchTable(w io.Writer, rows []BenchRow, color bool) error {
	type cell struct {
		text string
		bad  bool
	}
	table := [][]cell{}
	head := make([]cell, len(benchHeader))
	for i, h := range benchHeader {
		head[i] = cell{text: h}
	}
	table = append(table, head)
	for _, r := range rows {
		lat := func(ok bool, d time.Duration) cell {
			if !ok {
				return cell{text: "-"}
			}
			return cell{text: Latency(d)}
		}
		table = append(table, []cell{
			{text: strconv.Itoa(r.QoS)},
			{text: Rate(r.SentRate)},
			{text: Rate(r.RecvRate)},
			{text: strconv.FormatFloat(r.RecvMBps, 'f', 2, 64)},
			{text: strconv.FormatInt(r.Lost, 10), bad: r.LostBad},
			{text: strconv.FormatInt(r.Dup, 10), bad: r.DupBad},
			lat(r.HasE2E, r.E2EP50), lat(r.HasE2E, r.E2EP99), lat(r.HasE2E, r.E2EP999), lat(r.HasE2E, r.E2EMax),
			lat(r.HasAck, r.AckP50), lat(r.HasAck, r.AckP99),
			{text: strconv.FormatInt(r.Late, 10)},
			{text: strconv.FormatFloat(r.CPUPercent, 'f', 0, 64) + "%"},
		})
	}
	widths := make([]int, len(benchHeader))
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	for ri, row := range table {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text))
			text := c.text
			switch {
			case color && c.bad:
				text = ansiRed + ansiBold + text + ansiReset
			case color && ri == 0:
				text = ansiBold + text + ansiReset
			}
			if i == 0 {
				b.WriteString(text + pad)
			} else {
				b.WriteString(pad + text)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Latency formats d compactly for a table: 850µs, 1.25ms, 2.50s.
func Latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

// Rate formats a per-second figure: 950, 12.3k, 1.25M.
func Rate(v float64) string {
	switch {
	case v < 10_000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 1_000_000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
}

// BenchSecond is one second of a bench run, a line of --csv.
type BenchSecond struct {
	QoS                    int
	T                      int // seconds since the measured window began
	Sent, Received, Late   int64
	E2EP50, E2EP99, E2EMax time.Duration
	AckP50, AckP99         time.Duration
}

// BenchCSV writes secs as CSV with a header line; latencies in µs.
func BenchCSV(w io.Writer, secs []BenchSecond) error {
	var b strings.Builder
	b.WriteString("qos,second,sent,received,late,e2e_p50_us,e2e_p99_us,e2e_max_us,ack_p50_us,ack_p99_us\n")
	for _, s := range secs {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", s.QoS, s.T, s.Sent, s.Received, s.Late,
			s.E2EP50.Microseconds(), s.E2EP99.Microseconds(), s.E2EMax.Microseconds(),
			s.AckP50.Microseconds(), s.AckP99.Microseconds())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// BenchProgress is the state shown by the live progress line.
type BenchProgress struct {
	QoS                int
	Phase              string
	Elapsed            time.Duration
	Sent, Received     int64
	SentRate, RecvRate float64
	Behind             int64 // expected deliveries not yet received
	E2EP99             time.Duration
}

// ProgressLine returns p as one terminal line that overwrites the previous
// one (carriage return first, erase to end of line after).
func ProgressLine(p BenchProgress) string {
	e2e := "-"
	if p.E2EP99 > 0 {
		e2e = Latency(p.E2EP99)
	}
	return fmt.Sprintf("\rqos %d %-6s %4.0fs  sent %d (%s/s)  recv %d (%s/s)  behind %d  e2e p99 %s\x1b[K",
		p.QoS, p.Phase, p.Elapsed.Seconds(), p.Sent, Rate(p.SentRate), p.Received, Rate(p.RecvRate), p.Behind, e2e)
}

// ClearLine erases a progress line.
const ClearLine = "\r\x1b[K"

// BenchConnReport is the summary of `bench conn`.
type BenchConnReport struct {
	Clients, Connected, Failed int
	Elapsed                    time.Duration
	Rate                       float64 // connections/s
	P50, P90, P99, Max         time.Duration
	CPUPercent                 float64
	FirstError                 string
	// Held is how long the connections were held open (--hold); Dropped
	// how many of them ended meanwhile.
	Held    time.Duration
	Dropped int
}

// BenchConnTable writes r; failures in red when color.
func BenchConnTable(w io.Writer, r BenchConnReport, color bool) error {
	failed := strconv.Itoa(r.Failed)
	if color && r.Failed > 0 {
		failed = ansiRed + ansiBold + failed + ansiReset
	}
	var b strings.Builder
	fmt.Fprintf(&b, "clients %d  connected %d  failed %s  in %s  (%s conn/s)\n",
		r.Clients, r.Connected, failed, Latency(r.Elapsed), Rate(r.Rate))
	if r.Connected > 0 {
		fmt.Fprintf(&b, "connack latency p50 %s  p90 %s  p99 %s  max %s\n",
			Latency(r.P50), Latency(r.P90), Latency(r.P99), Latency(r.Max))
	}
	if r.Held > 0 {
		dropped := strconv.Itoa(r.Dropped)
		if color && r.Dropped > 0 {
			dropped = ansiRed + ansiBold + dropped + ansiReset
		}
		fmt.Fprintf(&b, "held %d for %s  dropped %s\n", r.Connected, Latency(r.Held), dropped)
	}
	fmt.Fprintf(&b, "cpu %.0f%%\n", r.CPUPercent)
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first error: %s\n", r.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// BenchWarnings writes warnings, one line each after "warning: ", in
// yellow when color is set.
func BenchWarnings(w io.Writer, warnings []string, color bool) error {
	var b strings.Builder
	for _, x := range warnings {
		x = "warning: " + x
		if color {
			x = ansiYellow + x + ansiReset
		}
		b.WriteString(x + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// BenchProblems writes each problem on its own line, in red when color.
func BenchProblems(w io.Writer, problems []string, color bool) error {
	var b strings.Builder
	for _, p := range problems {
		if color {
			p = ansiRed + p + ansiReset
		}
		b.WriteString(p + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
