package commands

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func TestParseSubSpec(t *testing.T) {
	base := packet.Subscription{QoS: 1, RetainHandling: packet.DoNotSendRetained}
	tests := []struct {
		name    string
		spec    string
		want    packet.Subscription
		wantID  uint32
		wantErr bool
	}{
		{name: "filter only", spec: ":a/b", want: packet.Subscription{Filter: "a/b", QoS: 1, RetainHandling: packet.DoNotSendRetained}},
		{name: "all options", spec: "qos=2,nl,rap,rh=1,id=7:s/#",
			want:   packet.Subscription{Filter: "s/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: packet.SendRetainedIfNew},
			wantID: 7},
		{name: "colon in filter", spec: "qos=0:a:b/c", want: packet.Subscription{Filter: "a:b/c", RetainHandling: packet.DoNotSendRetained}},
		{name: "spaces", spec: " nl , qos=0 :x", want: packet.Subscription{Filter: "x", NoLocal: true, RetainHandling: packet.DoNotSendRetained}},
		{name: "no colon", spec: "a/b", wantErr: true},
		{name: "bad qos", spec: "qos=3:a", wantErr: true},
		{name: "bad rh", spec: "rh=x:a", wantErr: true},
		{name: "id zero", spec: "id=0:a", wantErr: true},
		{name: "id too big", spec: "id=268435456:a", wantErr: true},
		{name: "nl with value", spec: "nl=1:a", wantErr: true},
		{name: "unknown", spec: "colour=red:a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, id, err := parseSubSpec(tt.spec, base)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseSubSpec(%q) = %+v, want an error", tt.spec, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSubSpec(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || id != tt.wantID {
				t.Errorf("parseSubSpec(%q) id %d (want %d) mismatch (-want +got):\n%s", tt.spec, id, tt.wantID, diff)
			}
		})
	}
}

func TestLatencyText(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{ns: 999, want: "Latency: 999ns"},
		{ns: 1500, want: "Latency: 1.500000µs"},
		{ns: 2500000, want: "Latency: 2.500000ms"},
		{ns: 1000000001, want: "Latency: 1.000000001"},
	}
	for _, tt := range tests {
		if got := latencyText(time.Duration(tt.ns)); got != tt.want {
			t.Errorf("latencyText(%dns) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

// TestFlagDocs checks that every flag of pub, sub and rr has a category and
// a usage that states its default.
func TestFlagDocs(t *testing.T) {
	s := &format.Streams{}
	for _, cmd := range []*cli.Command{pubCommand(s), subCommand(s), rrCommand(s)} {
		seen := map[string]bool{}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			for _, n := range f.Names() {
				if seen[n] {
					t.Errorf("%s: flag name %q defined twice", cmd.Name, n)
				}
				seen[n] = true
			}
			cf, ok := f.(cli.CategorizableFlag)
			if !ok || cf.GetCategory() == "" {
				t.Errorf("%s --%s has no category", cmd.Name, name)
			}
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				t.Errorf("%s --%s has no usage", cmd.Name, name)
				continue
			}
			if !strings.Contains(df.GetUsage(), "default") && df.GetDefaultText() == "" && df.GetValue() == "" {
				t.Errorf("%s --%s usage %q does not state its default", cmd.Name, name, df.GetUsage())
			}
		}
	}
}

// TestFlagPlaceholders checks that each flag's --help placeholder is the
// one meant: urfave/cli takes the first `quoted` word of a usage as the
// placeholder, so a usage may quote only its placeholder, in capitals.
func TestFlagPlaceholders(t *testing.T) {
	s := &format.Streams{}
	for _, cmd := range []*cli.Command{pubCommand(s), subCommand(s), rrCommand(s)} {
		for _, f := range cmd.Flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			parts := strings.Split(df.GetUsage(), "`")
			for i := 1; i < len(parts); i += 2 {
				if w := parts[i]; w != strings.ToUpper(w) || (i > 1 && w != parts[1]) {
					t.Errorf("%s --%s usage quotes %q, which is not its placeholder: %q", cmd.Name, f.Names()[0], w, df.GetUsage())
				}
			}
		}
	}
}

// sessionBroker is one broker.Server whose listener a test stops and
// starts again on the same port, so that sessions outlive the connections;
// it refuses new clients while refuse is set.
type sessionBroker struct {
	srv    *broker.Server
	addr   string
	refuse atomic.Bool
	mu     sync.Mutex
	log    []string
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *sessionBroker) Authenticate(context.Context, *packet.Connect) packet.ReasonCode {
	if b.refuse.Load() {
		return packet.NotAuthorized
	}
	return packet.Success
}

func (b *sessionBroker) Authorize(context.Context, broker.Client, broker.Access, string) bool {
	return true
}

// startSessionBroker runs a sessionBroker on a free port until the test ends.
func startSessionBroker(t *testing.T) *sessionBroker {
	t.Helper()
	b := &sessionBroker{addr: "127.0.0.1:0"}
	b.srv = broker.New(broker.Options{Auth: b, SysInterval: -1, LogLevel: broker.LogInfo,
		Log: func(_ broker.LogLevel, msg string) {
			b.mu.Lock()
			b.log = append(b.log, msg)
			b.mu.Unlock()
		}})
	b.serve(t)
	t.Cleanup(b.stop)
	return b
}

// serve starts the listener again on the same address, within 5s.
func (b *sessionBroker) serve(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", b.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", b.addr, err)
	}
	b.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ctx, ln)
	}()
}

// stop closes the listener and every connection; the sessions stay.
func (b *sessionBroker) stop() {
	if b.cancel != nil {
		b.cancel()
		<-b.done
		b.cancel = nil
	}
}

func (b *sessionBroker) port() string {
	_, port, _ := net.SplitHostPort(b.addr)
	return port
}

// count returns how many lines of the log match re.
func (b *sessionBroker) count(re *regexp.Regexp) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.log {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// waitLog waits up to 10s until n lines of the log match re.
func (b *sessionBroker) waitLog(t *testing.T, re string, n int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for got := b.count(rx); got < n; got = b.count(rx) {
		if time.Now().After(deadline) {
			b.mu.Lock()
			log := strings.Join(b.log, "\n")
			b.mu.Unlock()
			t.Fatalf("broker log has %d lines matching %q, want %d; log:\n%s", got, re, n, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubReconnectKeptSession checks that sub -c subscribes again after a
// reconnection even when the broker kept its session (CONNACK Session
// Present 1), as mosquitto_sub does, and receives the session's messages.
func TestSubReconnectKeptSession(t *testing.T) {
	b := startSessionBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, "mqtool", "sub", "-p", b.port(), "-i", "kept", "-c", "-q", "1", "-t", "k/t", "-C", "1", "-v")
	sub.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	var out, errOut strings.Builder
	sub.Stdout, sub.Stderr = &out, &errOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitLog(t, `^Client kept subscribed to k/t`, 1)
	b.stop()
	b.serve(t)
	b.waitLog(t, ` as kept `, 2)
	disconnected := regexp.MustCompile(`^Client kept disconnected`)
	before := b.count(disconnected)

	pub := exec.CommandContext(ctx, "mqtool", "pub", "-p", b.port(), "-i", "kpub", "-q", "1", "-t", "k/t", "-m", "kept")
	pub.Env = sub.Env
	if msg, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("pub: %v: %s", err, msg)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub: %v; stderr %q", err, errOut.String())
	}
	if got, want := out.String(), "k/t kept\n"; got != want {
		t.Errorf("sub printed %q, want %q", got, want)
	}
	b.waitLog(t, disconnected.String(), before+1) // every packet of sub's handled
	if n := b.count(regexp.MustCompile(`^Client kept subscribed to`)); n != 2 {
		t.Errorf("broker saw %d subscriptions from sub, want 2 (mosquitto_sub subscribes again on every connect, kept session or not)", n)
	}
}

// TestSubReconnectRefused checks that sub -d reports the lost connection
// and that a refused reconnection ends sub with the refusal's exit code.
func TestSubReconnectRefused(t *testing.T) {
	b := startSessionBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, "mqtool", "sub", "-d", "-p", b.port(), "-i", "gone", "-t", "g/t")
	sub.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	var errOut strings.Builder
	sub.Stderr = &errOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitLog(t, `^Client gone subscribed to g/t`, 1)
	b.refuse.Store(true)
	b.stop()
	b.serve(t)
	err := sub.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Fatalf("sub exited with %v, want exit code 5 (not authorised); stderr %q", err, errOut.String())
	}
	for _, want := range []string{"Connection lost: ", "Connection error: Connection Refused: not authorised.\n"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q does not contain %q", errOut.String(), want)
		}
	}
}
