package format

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBenchTable(t *testing.T) {
	rows := []BenchRow{
		{QoS: 0, SentRate: 20000, RecvRate: 19990, RecvMBps: 1.28, Lost: 10, HasE2E: true,
			E2EP50: 120 * time.Microsecond, E2EP99: 2500 * time.Microsecond, E2EP999: 8 * time.Millisecond, E2EMax: 1500 * time.Millisecond, CPUPercent: 42},
		{QoS: 2, SentRate: 5000, RecvRate: 4999, Lost: 1, LostBad: true, Dup: 2, DupBad: true, HasE2E: true, HasAck: true,
			AckP50: 300 * time.Microsecond, AckP99: time.Millisecond},
	}
	var plain bytes.Buffer
	if err := BenchTable(&plain, rows, false); err != nil {
		t.Fatal(err)
	}
	want := `qos  sent/s  recv/s  MB/s in  lost  dup  e2e p50  e2e p99  e2e p99.9  e2e max  ack p50  ack p99  late  cpu
0     20.0k   20.0k     1.28    10    0    120µs   2.50ms     8.00ms    1.50s        -        -     0  42%
2      5000    4999     0.00     1    2      0µs      0µs        0µs      0µs    300µs   1.00ms     0   0%
`
	if plain.String() != want {
		t.Errorf("BenchTable(no colour) =\n%s\nwant\n%s", plain.String(), want)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("BenchTable without colour has escape codes: %q", plain.String())
	}
	var col bytes.Buffer
	if err := BenchTable(&col, rows, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(col.String(), "\n")
	if strings.Contains(lines[1], ansiRed) {
		t.Errorf("qos 0 loss is coloured red: %q", lines[1])
	}
	if strings.Count(lines[2], ansiRed) != 2 {
		t.Errorf("qos 2 line should have lost and dup in red: %q", lines[2])
	}
	stripped := strings.NewReplacer(ansiRed, "", ansiBold, "", ansiReset, "").Replace(col.String())
	if stripped != want {
		t.Errorf("coloured table without escapes =\n%s\nwant\n%s", stripped, want)
	}
}

func TestLatencyAndRate(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Latency(0), "0µs"},
		{Latency(999 * time.Microsecond), "999µs"},
		{Latency(1234 * time.Microsecond), "1.23ms"},
		{Latency(2500 * time.Millisecond), "2.50s"},
		{Rate(0), "0"},
		{Rate(9999.4), "9999"},
		{Rate(12345), "12.3k"},
		{Rate(1_250_000), "1.25M"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestBenchCSV(t *testing.T) {
	var b bytes.Buffer
	err := BenchCSV(&b, []BenchSecond{
		{QoS: 1, T: 0, Sent: 100, Received: 99, Late: 1, E2EP50: 100 * time.Microsecond, E2EP99: 2 * time.Millisecond, E2EMax: 3 * time.Millisecond, AckP50: 50 * time.Microsecond, AckP99: time.Millisecond},
		{QoS: 1, T: 1, Sent: 100, Received: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "qos,second,sent,received,late,e2e_p50_us,e2e_p99_us,e2e_max_us,ack_p50_us,ack_p99_us\n" +
		"1,0,100,99,1,100,2000,3000,50,1000\n" +
		"1,1,100,100,0,0,0,0,0,0\n"
	if b.String() != want {
		t.Errorf("BenchCSV =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestProgressLine(t *testing.T) {
	got := ProgressLine(BenchProgress{QoS: 1, Phase: "run", Elapsed: 3 * time.Second, Sent: 3000, Received: 2990,
		SentRate: 1000, RecvRate: 998, Behind: 10, E2EP99: 1500 * time.Microsecond})
	want := "\rqos 1 run       3s  sent 3000 (1000/s)  recv 2990 (998/s)  behind 10  e2e p99 1.50ms\x1b[K"
	if got != want {
		t.Errorf("ProgressLine = %q, want %q", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Errorf("ProgressLine has a newline: %q", got)
	}
}

func TestBenchConnTable(t *testing.T) {
	var b bytes.Buffer
	err := BenchConnTable(&b, BenchConnReport{Clients: 10, Connected: 9, Failed: 1, Elapsed: 50 * time.Millisecond,
		Rate: 180, P50: 2 * time.Millisecond, P90: 3 * time.Millisecond, P99: 4 * time.Millisecond, Max: 5 * time.Millisecond,
		CPUPercent: 12, FirstError: "client: connection refused", Held: 2 * time.Second, Dropped: 3}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connected 9", ansiRed + ansiBold + "1" + ansiReset, "(180 conn/s)", "p99 4.00ms",
		"held 9 for 2.00s  dropped " + ansiRed + ansiBold + "3" + ansiReset, "first error: client: connection refused"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("BenchConnTable output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBenchWarnings(t *testing.T) {
	tests := []struct {
		name  string
		color bool
		want  string
	}{
		{"plain", false, "warning: a\nwarning: b\n"},
		{"colour: yellow", true, "\x1b[33mwarning: a\x1b[0m\n\x1b[33mwarning: b\x1b[0m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := BenchWarnings(&b, []string{"a", "b"}, tt.color); err != nil || b.String() != tt.want {
				t.Errorf("BenchWarnings = %q, %v; want %q", b.String(), err, tt.want)
			}
		})
	}
}

func TestBenchProblems(t *testing.T) {
	var b bytes.Buffer
	if err := BenchProblems(&b, []string{"a", "b"}, false); err != nil || b.String() != "a\nb\n" {
		t.Errorf("BenchProblems = %q, %v; want \"a\\nb\\n\"", b.String(), err)
	}
}
