package commands

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runServeMain runs "mqtool serve args..." in the background; cancel stops it.
func runServeMain(t *testing.T, args ...string) (stderr *syncBuffer, cancel func(), code <-chan int) {
	t.Helper()
	stderr = &syncBuffer{}
	s := &format.Streams{In: strings.NewReader(""), Out: &syncBuffer{}, Err: stderr}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- Main(ctx, append([]string{"mqtool", "serve"}, args...), s)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
		}
	})
	return stderr, stop, done
}

var readyLine = regexp.MustCompile(`mqtool: listening on mqtt://(127\.0\.0\.1:\d+)\n`)

func waitReady(t *testing.T, stderr *syncBuffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := readyLine.FindAllStringSubmatch(stderr.String(), -1)
		if len(m) >= n {
			var addrs []string
			for _, x := range m {
				addrs = append(addrs, x[1])
			}
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d ready lines; stderr:\n%s", n, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServeReadyConnectAndStop(t *testing.T) {
	stderr, cancel, code := runServeMain(t, "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "-v")
	addrs := waitReady(t, stderr, 2)
	for _, a := range addrs {
		if strings.HasSuffix(a, ":0") {
			t.Errorf("ready line shows port 0, want the real port: %s", a)
		}
		connectTo(t, a, packet.V5, "serve-test")
	}
	awaitStderr(t, stderr, "New client connected from", "-v did not log the connect")
	start := time.Now()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d after stop, want 0; stderr:\n%s", c, stderr.String())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("stopped after %v, want within 2s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop within 5s of cancel")
	}
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	stderr, _, code := runServeMain(t, "-p", port)
	select {
	case c := <-code:
		if c == 0 {
			t.Errorf("exit code 0 with port in use, want non-zero")
		}
		out := stderr.String()
		if !strings.Contains(out, "127.0.0.1:"+port) || strings.Count(out, "\n") != 1 {
			t.Errorf("stderr = %q, want one line naming 127.0.0.1:%s", out, port)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve kept running with its port in use")
	}
}

func TestServeBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-x"}, "Unknown option"},
		{"verbose and quiet", []string{"-v", "-q"}, "-q cannot be used with -v"},
		{"debug and quiet", []string{"--debug", "-q"}, "-q cannot be used with -v or --debug"},
		{"port out of range", []string{"-p", "70000"}, "Invalid port"},
		{"listen without port", []string{"--listen", "localhost"}, "HOST:PORT"},
		{"keepalive 0", []string{"--max-keepalive", "0"}, "--max-keepalive"},
		{"packet size 10", []string{"--max-packet-size", "10"}, "at least 20"},
		{"qos 3", []string{"--max-qos", "3"}, "--max-qos"},
		{"not a number", []string{"--max-inflight-messages", "lots"}, "max-inflight-messages"},
		{"argument", []string{"extra"}, "Unknown option 'extra'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr, _, code := runServeMain(t, tt.args...)
			select {
			case c := <-code:
				out := stderr.String()
				first, _, _ := strings.Cut(out, "\n")
				if c == 0 || !strings.HasPrefix(first, "Error: ") || !strings.Contains(first, tt.want) {
					t.Errorf("serve %v: exit %d, stderr %q; want non-zero and an Error line containing %q", tt.args, c, out, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("serve %v kept running", tt.args)
			}
		})
	}
}

func TestServeOptions(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		addrs []string
		check func(o *serveOptions) string
	}{
		{"default listener", nil, []string{"127.0.0.1:1883"}, func(o *serveOptions) string {
			b := o.broker
			if b.MaxInflightMessages != 20 || b.MaxQueuedMessages != 1000 || b.MaxQueuedBytes != 0 ||
				b.MaxPacketSize != 0 || b.MaxKeepalive != 65535 || b.SysInterval != 10*time.Second ||
				b.MaxQoS == nil || *b.MaxQoS != 2 {
				return "defaults differ from mosquitto's"
			}
			return ""
		}},
		{"ports", []string{"-p", "1884", "-p", "1885"}, []string{"127.0.0.1:1884", "127.0.0.1:1885"}, nil},
		{"listen and port", []string{"--listen", "127.0.0.1:0", "-p", "9"}, []string{"127.0.0.1:9", "127.0.0.1:0"}, nil},
		{"zero limits mean none", []string{"--max-inflight-messages", "0", "--max-queued-messages", "0", "--sys-interval", "0"},
			[]string{"127.0.0.1:1883"}, func(o *serveOptions) string {
				if o.broker.MaxInflightMessages >= 0 || o.broker.MaxQueuedMessages >= 0 || o.broker.SysInterval >= 0 {
					return "0 not mapped to unlimited / disabled"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &format.Streams{In: strings.NewReader(""), Out: &syncBuffer{}, Err: &syncBuffer{}}
			cmd := serveCommand(s)
			var got *serveOptions
			var perr error
			cmd.Action = func(c *cli.Context) error {
				got, perr = newServeOptions(c)
				return perr
			}
			app := &cli.App{Name: "mqtool", Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
			if err := app.Run(append([]string{"mqtool", "serve"}, tt.args...)); err != nil {
				t.Fatalf("serve %v: %v", tt.args, err)
			}
			if strings.Join(got.addrs, " ") != strings.Join(tt.addrs, " ") {
				t.Errorf("serve %v: addresses %v, want %v", tt.args, got.addrs, tt.addrs)
			}
			if tt.check != nil {
				if msg := tt.check(got); msg != "" {
					t.Errorf("serve %v: %s: %+v", tt.args, msg, got.broker)
				}
			}
		})
	}
}

func TestServeDebug(t *testing.T) {
	stderr, cancel, code := runServeMain(t, "--listen", "127.0.0.1:0", "--debug")
	addr := waitReady(t, stderr, 1)[0]
	connectTo(t, addr, packet.V311, "debug-test")
	awaitStderr(t, stderr, ": Sending CONNACK to debug-test (0, 0)\n", "--debug did not log the CONNACK")
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d after stop, want 0", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop within 5s of cancel")
	}
}

// connectTo connects client id at version v to the broker at addr and
// waits for its CONNACK; the connection closes when the test ends.
func connectTo(t *testing.T, addr string, v packet.Version, id string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := packet.Write(nc, &packet.Connect{Version: v, ClientID: id, CleanStart: true}, v); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := packet.Read(nc, v, 0); err != nil || p.Type() != packet.CONNACK {
		t.Fatalf("Read after CONNECT = %v, %v, want CONNACK", p, err)
	}
}

// awaitStderr polls stderr for up to 5 s until it contains want, and fails
// with msg and what it holds otherwise.
func awaitStderr(t *testing.T, stderr *syncBuffer, want, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s; stderr:\n%s", msg, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
