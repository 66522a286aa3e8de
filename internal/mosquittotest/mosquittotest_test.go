package mosquittotest

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestTool(t *testing.T) {
	for _, name := range []string{"mosquitto", "mosquitto_pub", "mosquitto_sub"} {
		t.Run(name, func(t *testing.T) {
			p := Tool(t, name)
			if !strings.HasSuffix(p, "/"+name) {
				t.Errorf("Tool(%q) = %q, want a path ending in /%s", name, p, name)
			}
		})
	}
}

// recorder is a testing.TB that records a Fatalf or Skipf and ends its
// goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestToolMissing(t *testing.T) {
	const name = "mosquitto_no_such_program"
	tests := []struct {
		name      string
		require   string
		wantFatal bool
	}{
		{"skip by default", "", false},
		{"skip unless exactly 1", "yes", false},
		{"fail when required", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Tool(r, name)
			}()
			<-done
			if tt.wantFatal {
				if r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, name) {
					t.Errorf("Tool(%q) with %s=%q: fatal %q, skip %q; want a failure naming it", name, RequireEnv, tt.require, r.fatal, r.skip)
				}
				return
			}
			if r.skip == "" || r.fatal != "" || !strings.Contains(r.skip, name) {
				t.Errorf("Tool(%q) with %s=%q: fatal %q, skip %q; want a skip naming it", name, RequireEnv, tt.require, r.fatal, r.skip)
			}
		})
	}
}

// TestStart starts a broker with a config line and two extra listeners,
// checks each accepts connections and that the config line took effect
// (log_type all logs the connection), then kills it through Cmd.
func TestStart(t *testing.T) {
	b := Start(t, Options{
		Config:     []string{"log_dest stdout", "log_type all", "listener %s 127.0.0.1", "listener %s 127.0.0.1"},
		ExtraPorts: 2,
	})
	if b.Addr != "127.0.0.1:"+b.Port {
		t.Errorf("Addr = %q, want 127.0.0.1:%s", b.Addr, b.Port)
	}
	if b.URL() != "mqtt://"+b.Addr {
		t.Errorf("URL() = %q, want mqtt://%s", b.URL(), b.Addr)
	}
	if len(b.ExtraPorts) != 2 || b.ExtraPorts[0] == b.ExtraPorts[1] || b.ExtraPorts[0] == b.Port {
		t.Fatalf("ports %s and extra %q, want two more distinct ports", b.Port, b.ExtraPorts)
	}
	for _, p := range append([]string{b.Port}, b.ExtraPorts...) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second)
		if err != nil {
			t.Fatalf("dial listener %s: %v\nlog:\n%s", p, err, b.Log())
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.Log(), "New connection from 127.0.0.1") {
		if time.Now().After(deadline) {
			t.Fatalf("log has no \"New connection from 127.0.0.1\" after 10s:\n%s", b.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Cmd.Process.Kill(); err != nil {
		t.Fatalf("kill mosquitto: %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 10s after the kill", b.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
