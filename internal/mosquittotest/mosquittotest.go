// Package mosquittotest finds the mosquitto programs and runs a mosquitto
// broker for interop tests.
//
// A test that needs a program which is not installed is skipped with a
// reason. When the environment sets MQTOOL_REQUIRE_INTEROP=1 (as CI does),
// the same test fails instead, so that a missing mosquitto can never pass
// as a skipped interop check.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that, set to "1", turns a skip for
// a missing mosquitto program into a failure.
const RequireEnv = "MQTOOL_REQUIRE_INTEROP"

// startTimeout bounds how long Start waits for mosquitto to accept
// connections on every listener.
const startTimeout = 10 * time.Second

// Tool returns the path of the mosquitto program name ("mosquitto",
// "mosquitto_pub", "mosquitto_sub", ...), looked up in PATH and then in the
// usual sbin and bin directories. When it is missing, Tool skips the test,
// or fails it when MQTOOL_REQUIRE_INTEROP=1.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s not found and %s=1", name, RequireEnv)
	}
	t.Skipf("interop test needs %s, which is not installed", name)
	return ""
}

// Options configures a broker started by Start.
type Options struct {
	// Config holds extra mosquitto.conf lines, written after the base
	// configuration and the first listener, so listener options in them
	// apply to listeners they declare themselves.
	Config []string
	// ExtraPorts is how many further free loopback ports to reserve. When
	// it is above zero, the joined Config is a fmt format whose %s verbs
	// take these ports in order; Start waits until each accepts connections.
	ExtraPorts int
}

// Broker is a mosquitto broker run by a test. It is stopped when the test
// and its subtests are done.
type Broker struct {
	// Addr is "127.0.0.1:port" of the first listener.
	Addr string
	// Port is the port of the first listener.
	Port string
	// ExtraPorts are the ports reserved by Options.ExtraPorts.
	ExtraPorts []string
	// Cmd is the broker's process; a test may kill it to see a broker die.
	Cmd *exec.Cmd

	log logBuffer
}

// URL returns "mqtt://" followed by Addr.
func (b *Broker) URL() string { return "mqtt://" + b.Addr }

// Log returns what mosquitto has written to stdout and stderr so far. Its
// stdout is line-buffered when stdbuf is installed, so a test may poll it.
func (b *Broker) Log() string { return b.log.String() }

// Start runs mosquitto with its own configuration in t.TempDir(): a
// listener on a free 127.0.0.1 port, allow_anonymous true, persistence
// false, then opts.Config. It returns once every listener with a reserved
// port accepts connections, and fails the test if mosquitto exits or does
// not listen within 10 seconds. A missing mosquitto is handled as by Tool.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := Tool(t, "mosquitto")
	ports := make([]string, 1+opts.ExtraPorts)
	for i := range ports {
		ports[i] = freePort(t)
	}
	b := &Broker{
		Addr:       net.JoinHostPort("127.0.0.1", ports[0]),
		Port:       ports[0],
		ExtraPorts: ports[1:],
	}
	extra := strings.Join(opts.Config, "\n")
	if opts.ExtraPorts > 0 {
		args := make([]any, opts.ExtraPorts)
		for i, p := range b.ExtraPorts {
			args[i] = p
		}
		extra = fmt.Sprintf(extra, args...)
	}
	cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n%s\n", b.Port, extra)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// mosquitto's stdout is block-buffered on a pipe; stdbuf makes it
	// line-buffered so that a test polling Log sees each line at once.
	b.Cmd = exec.Command(bin, "-c", conf)
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		b.Cmd = exec.Command(sb, "-oL", bin, "-c", conf)
	}
	b.Cmd.Stdout, b.Cmd.Stderr = &b.log, &b.log
	if err := b.Cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = b.Cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = b.Cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(startTimeout)
	for _, p := range ports {
		addr := net.JoinHostPort("127.0.0.1", p)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("mosquitto exited: %v\nconfig:\n%s\nlog:\n%s", b.Cmd.ProcessState, cfg, b.Log())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto did not listen on %s within %v: %v\nlog:\n%s", addr, startTimeout, err, b.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return b
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// logBuffer is a bytes.Buffer safe for a writer and a poller.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
