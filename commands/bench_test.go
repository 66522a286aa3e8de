package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/bench"
	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/format"
)

func benchBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = broker.New(broker.Options{}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestBenchProgress checks that the live progress line goes to stderr only
// when stderr is a terminal, and is erased before the table.
func TestBenchProgress(t *testing.T) {
	port := benchBroker(t)
	tests := []struct {
		name         string
		errTTY       bool
		wantProgress bool
	}{
		{"terminal", true, true},
		{"piped", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			s := &format.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, ErrTTY: tt.errTTY, OutTTY: tt.errTTY}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := []string{"mqtool", "bench", "-p", port, "-q", "1", "--rate", "500", "--duration", "1200ms", "--warmup", "0s", "--color", "never"}
			if code := Main(ctx, args, s); code != 0 {
				t.Fatalf("%v = exit %d, stderr %q", args, code, errb.String())
			}
			// A loaded machine can make bench warn that it fell behind;
			// the warnings follow the table and are not what is tested.
			stderr, _, _ := strings.Cut(errb.String(), "warning: ")
			errb.Reset()
			errb.WriteString(stderr)
			gotProgress := strings.Contains(errb.String(), "\rqos 1 run ")
			if gotProgress != tt.wantProgress {
				t.Errorf("stderr %q: progress line shown = %v, want %v", errb.String(), gotProgress, tt.wantProgress)
			}
			if tt.wantProgress && !strings.HasSuffix(errb.String(), format.ClearLine) {
				t.Errorf("stderr %q does not end by erasing the progress line", errb.String())
			}
			if !tt.wantProgress && errb.Len() != 0 {
				t.Errorf("stderr %q, want nothing when piped", errb.String())
			}
			if !strings.HasPrefix(out.String(), "qos ") || strings.Contains(out.String(), "\x1b") {
				t.Errorf("stdout %q, want the plain table", out.String())
			}
		})
	}
}

// TestBenchTickProcs checks --tick and --procs reach the run (the JSON
// result records them) and that bad values are refused.
func TestBenchTickProcs(t *testing.T) {
	port := benchBroker(t)
	t.Setenv("GOMAXPROCS", "")
	tests := []struct {
		name      string
		args      []string
		wantTick  string
		wantProcs int
		wantErr   string // on stderr, exit 1
	}{
		{"set", []string{"--tick", "1ms", "--procs", "1"}, "1ms", 1, ""},
		{"default", nil, "0s", max(1, runtime.GOMAXPROCS(0)/2), ""},
		{"procs 0", []string{"--procs", "0"}, "", 0, "--procs must be at least 1, not 0"},
		{"negative tick", []string{"--tick", "-1ms"}, "", 0, "--tick must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			s := &format.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"mqtool", "bench", "-p", port, "-q", "0", "--rate", "1000", "--duration", "200ms", "--warmup", "0s", "--json", "-"}, tt.args...)
			code := Main(ctx, args, s)
			if tt.wantErr != "" {
				if code != 1 || !strings.Contains(errb.String(), tt.wantErr) {
					t.Errorf("%v = exit %d, stderr %q; want 1 and %q", args, code, errb.String(), tt.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("%v = exit %d, stderr %q", args, code, errb.String())
			}
			var res bench.Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("%v: JSON result: %v", args, err)
			}
			if res.Config.Tick != tt.wantTick || res.Config.Procs != tt.wantProcs {
				t.Errorf("%v: result config tick %q procs %d, want %q and %d", args, res.Config.Tick, res.Config.Procs, tt.wantTick, tt.wantProcs)
			}
		})
	}
}

// TestBenchWarnings checks that a run bench cannot keep up with ends with a
// warning on stderr (and exit 0), and that --quiet drops it.
func TestBenchWarnings(t *testing.T) {
	port := benchBroker(t)
	for _, quiet := range []bool{false, true} {
		var out, errb bytes.Buffer
		s := &format.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// A million messages a second is beyond any machine this runs on:
		// most sends start late.
		args := []string{"mqtool", "bench", "-p", port, "-q", "0", "--rate", "1000000", "--duration", "1200ms", "--warmup", "0s"}
		if quiet {
			args = append(args, "--quiet")
		}
		code := Main(ctx, args, s)
		cancel()
		if code != 0 {
			t.Fatalf("%v = exit %d, stderr %q", args, code, errb.String())
		}
		warned := strings.Contains(errb.String(), "warning: qos 0: ") && strings.Contains(errb.String(), "behind schedule: bench fell behind")
		if warned == quiet {
			t.Errorf("%v: stderr %q; want the late-sends warning: %v", args, errb.String(), !quiet)
		}
	}
}
