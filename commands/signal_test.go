package commands

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/mqtool/mqtool/format"
)

// TestNotifyContext checks that the context ends on SIGINT and on SIGTERM
// once the handler is installed, and not before a signal.
func TestNotifyContext(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, stop := NotifyContext(context.Background())
			defer stop()
			waitSignalHandler(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("ctx.Err() before a signal = %v, want nil", err)
			}
			if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("ctx not done 10s after %v", sig)
			}
		})
	}
}

// TestNotifyContextStop checks that stop ends the context and returns only
// once the handler's goroutine has stopped catching signals and ended.
func TestNotifyContextStop(t *testing.T) {
	ctx, stop := NotifyContext(context.Background())
	h := ctx.Value(signalHandlerKey{}).(*signalHandler)
	stopped := make(chan struct{})
	go func() {
		stop()
		stop() // a second call is harmless
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return within 10s")
	}
	if ctx.Err() == nil {
		t.Error("ctx not done after stop")
	}
	select {
	case <-h.done:
	default:
		t.Error("stop returned before the handler's goroutine ended")
	}
}

// TestMainWaitsForSignalHandler checks that Main runs no action before
// the signal handler of its ctx is installed.
func TestMainWaitsForSignalHandler(t *testing.T) {
	h := &signalHandler{installed: make(chan struct{}), stopped: make(chan struct{})}
	ctx := context.WithValue(context.Background(), signalHandlerKey{}, h)
	var out, errOut bytes.Buffer
	s := &format.Streams{In: bytes.NewReader(nil), Out: &out, Err: &errOut}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"mqtool", "version"}, s) }()
	select {
	case code := <-done:
		t.Fatalf("Main returned %d (output %q) before the handler was installed", code, out.String())
	case <-time.After(100 * time.Millisecond):
	}
	close(h.installed)
	select {
	case code := <-done:
		if code != 0 || out.Len() == 0 {
			t.Errorf("Main = %d, output %q; want 0 and the version", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return 10s after the handler was installed")
	}
}
