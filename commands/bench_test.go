package commands

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

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
