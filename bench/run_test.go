package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqtool/mqtool/broker"
	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/internal/mosquittotest"
	"github.com/mqtool/mqtool/packet"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMosquitto starts a mosquitto broker on a free loopback port with its
// own configuration and returns its URL and process. It skips the test when
// mosquitto is missing, unless MQTOOL_REQUIRE_INTEROP=1.
func startMosquitto(t *testing.T, conf ...string) (string, *exec.Cmd) {
	t.Helper()
	if conf == nil {
		conf = []string{"max_queued_messages 100000"}
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Config: conf})
	return b.URL(), b.Cmd
}

func quickConfig(url string) Config {
	return Config{
		Client:      client.Options{URL: url, ConnectTimeout: 3 * time.Second},
		Publishers:  2,
		Subscribers: 2,
		QoS:         []packet.QoS{0, 1, 2},
		Size:        64,
		Rate:        2000,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		Drain:       500 * time.Millisecond,
	}
}

// checkDelivery asserts the end-to-end accounting of a run: at QoS 1 and 2
// every message arrives, at QoS 2 exactly once.
func checkDelivery(t *testing.T, res *Result, fanOut int) {
	t.Helper()
	for _, q := range res.Runs {
		if q.Sent == 0 || q.Expected == 0 || q.Sent > q.Published {
			t.Errorf("qos %d: sent %d of %d published, expected %d; want some", q.QoS, q.Sent, q.Published, q.Expected)
			continue
		}
		var sent, recv int64
		for _, x := range q.Series {
			sent += x.Sent
			recv += x.Received
		}
		if sent != q.Sent || recv != q.Received {
			t.Errorf("qos %d: per-second series sums to %d sent, %d received; totals %d, %d", q.QoS, sent, recv, q.Sent, q.Received)
		}
		if q.Foreign != 0 {
			t.Errorf("qos %d: %d foreign messages", q.QoS, q.Foreign)
		}
		if q.QoS == 0 {
			continue
		}
		if q.Delivered != q.Published*int64(fanOut) || q.Lost != 0 || q.Delivered != q.Expected {
			t.Errorf("qos %d: published %d delivered %d (want %d) expected %d lost %d",
				q.QoS, q.Published, q.Delivered, q.Published*int64(fanOut), q.Expected, q.Lost)
		}
		// QoS 1 allows duplicates, but without reconnects there is no cause.
		if q.Dup != 0 {
			t.Errorf("qos %d: %d duplicates", q.QoS, q.Dup)
		}
		if q.Ack.Count == 0 || q.Ack.Count > q.Published || q.AckUncorrected.Count != q.Ack.Count {
			t.Errorf("qos %d: %d ack latencies (%d uncorrected) for %d published", q.QoS, q.Ack.Count, q.AckUncorrected.Count, q.Published)
		}
		if q.E2E.Count == 0 || q.E2E.Count > q.Delivered || q.E2E.P50 <= 0 || q.E2E.Max < q.E2E.P99 || q.E2EUncorrected.Count != q.E2E.Count {
			t.Errorf("qos %d: e2e %+v for %d delivered", q.QoS, q.E2E, q.Delivered)
		}
		if q.Received == 0 || q.Received > q.Delivered {
			t.Errorf("qos %d: received %d in the window of %d delivered", q.QoS, q.Received, q.Delivered)
		}
		if len(q.Problems()) != 0 {
			t.Errorf("qos %d problems: %q", q.QoS, q.Problems())
		}
	}
}

func TestRunMosquitto(t *testing.T) {
	url, _ := startMosquitto(t)
	tests := []struct {
		name   string
		mod    func(*Config)
		fanOut int
	}{
		{"pair", func(*Config) {}, 1},
		{"fan-out 1 to 3", func(c *Config) { c.Pattern, c.Publishers, c.Subscribers = FanOut, 1, 3 }, 3},
		{"fan-in 3 to 1", func(c *Config) { c.Pattern, c.Publishers, c.Subscribers = FanIn, 3, 1 }, 1},
		{"template", func(c *Config) { c.Topic = "bench-test/%c/%i" }, 1},
		{"unpaced count", func(c *Config) { c.Rate, c.Duration, c.Warmup, c.Count, c.Inflight = 0, 0, 0, 300, 8 }, 1},
		{"retain", func(c *Config) { c.Retain, c.QoS = true, []packet.QoS{1} }, 1},
		{"shared 2 to 3", func(c *Config) {
			c.Client.Version, c.Subscribers, c.Topic, c.Filter = packet.V5, 3, "bench-shared/%i", "$share/g/bench-shared/+"
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quickConfig(url)
			tt.mod(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			if len(res.Runs) != len(cfg.QoS) {
				t.Fatalf("Run gave %d QoS runs, want %d", len(res.Runs), len(cfg.QoS))
			}
			checkDelivery(t, res, tt.fanOut)
			if cfg.Count > 0 {
				for _, q := range res.Runs {
					if q.Sent != int64(cfg.Count)*int64(cfg.Publishers) || q.Published != q.Sent {
						t.Errorf("qos %d: sent %d, published %d with --count %d x %d publishers", q.QoS, q.Sent, q.Published, cfg.Count, cfg.Publishers)
					}
				}
			}
		})
	}
}

func TestRunRate(t *testing.T) {
	url, _ := startMosquitto(t)
	cfg := quickConfig(url)
	cfg.QoS = []packet.QoS{1}
	cfg.Rate = 1000
	cfg.Duration = 500 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := res.Runs[0]
	// 1000 msg/s for 0.5s is 500 messages, give or take the edges. Sent
	// counts sends made in the window: on a loaded machine, warm-up sends
	// held up past the warm-up's end are among them (once 518).
	if q.Sent < 400 || q.Sent > 560 {
		t.Errorf("sent %d at 1000 msg/s for 500ms, want about 500", q.Sent)
	}
	if q.Seconds != 0.5 {
		t.Errorf("measured window %vs, want the 0.5s duration", q.Seconds)
	}
	if q.SentRate < 800 || q.SentRate > 1120 {
		t.Errorf("sent rate %.0f, want about 1000", q.SentRate)
	}
	if q.CPU.Wall <= 0 || q.CPU.User+q.CPU.System <= 0 {
		t.Errorf("cpu %+v, want some", q.CPU)
	}
}

func TestRunBrokerKilled(t *testing.T) {
	url, cmd := startMosquitto(t)
	cfg := quickConfig(url)
	cfg.QoS = []packet.QoS{1}
	cfg.Duration = 30 * time.Second
	var kill sync.Once
	cfg.Progress = func(p Progress) {
		if p.Received > 0 {
			kill.Do(func() { _ = cmd.Process.Kill() })
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err == nil {
		t.Fatalf("Run with the broker killed = nil error, result %+v", res)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run with the broker killed hung until the test's deadline: %v", err)
	}
	if res == nil || res.Error == "" || len(res.Runs) != 1 || res.Runs[0].Error == "" {
		t.Errorf("Run with the broker killed gave result %+v, want the error recorded", res)
	}
	if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "bench: ") {
		t.Errorf("error %q, want one line starting bench:", err)
	}
	t.Logf("broker killed: error after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestRunErrors(t *testing.T) {
	closed := fmt.Sprintf("mqtt://127.0.0.1:%d", freePort(t))
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"size below header", func(c *Config) { c.Size = HeaderSize - 1 }, "smaller than the"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "--rate"},
		{"bad qos", func(c *Config) { c.QoS = []packet.QoS{3} }, "QoS 3"},
		{"no publishers", func(c *Config) { c.Publishers = 0 }, "--publishers"},
		{"no duration or count", func(c *Config) { c.Duration = 0 }, "--duration or --count"},
		{"bad topic", func(c *Config) { c.Topic = "a/+/b" }, "--topic"},
		{"unreachable", func(c *Config) {}, "connect"},
		{"remote too many clients", func(c *Config) { c.Client.URL = "mqtt://192.0.2.1:1883"; c.Publishers = 20 }, "at most 10"},
		{"remote too fast", func(c *Config) { c.Client.URL = "mqtt://192.0.2.1:1883"; c.Rate = 5000 }, "at most 100 msg/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quickConfig(closed)
			tt.mod(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Run = %v, want one line containing %q", err, tt.want)
			}
			if ctx.Err() != nil {
				t.Errorf("Run took until the deadline")
			}
		})
	}
}

func TestValidateShared(t *testing.T) {
	cfg := quickConfig("mqtt://192.0.2.1:1883")
	cfg.Rate = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != SharedMaxRate || cfg.ConnectRate != SharedMaxConnect {
		t.Errorf("remote defaults: rate %v connect rate %v, want %d, %d", cfg.Rate, cfg.ConnectRate, SharedMaxRate, SharedMaxConnect)
	}
	cfg = quickConfig("mqtt://192.0.2.1:1883")
	cfg.Rate, cfg.Publishers, cfg.AllowShared = 0, 50, true
	if err := cfg.Validate(); err != nil || cfg.Rate != 0 {
		t.Errorf("AllowShared: Validate = %v, rate %v; want nil, 0", err, cfg.Rate)
	}
	for _, u := range []string{"mqtt://127.0.0.1:1", "mqtt://localhost", "mqtt://[::1]:1883", "unix:///tmp/x.sock"} {
		if ok, err := IsLocal(u); !ok || err != nil {
			t.Errorf("IsLocal(%q) = %v, %v; want true", u, ok, err)
		}
	}
	for _, u := range []string{"mqtt://test.mosquitto.org", "mqtts://192.0.2.1", "ws://10.0.0.1/mqtt"} {
		if ok, err := IsLocal(u); ok || err != nil {
			t.Errorf("IsLocal(%q) = %v, %v; want false", u, ok, err)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct{ tpl, want string }{
		{"a/%i/b", "a/7/b"},
		{"%c/%i", "id/7"},
		{"100%%/%i", "100%/7"},
		{"plain", "plain"},
		{"end%", "end%"},
		{"%x", "%x"},
	}
	for _, tt := range tests {
		if got := expand(tt.tpl, 7, "id"); got != tt.want {
			t.Errorf("expand(%q, 7, id) = %q, want %q", tt.tpl, got, tt.want)
		}
	}
}

func TestParseQoSList(t *testing.T) {
	got, err := ParseQoSList("0, 2,1,2")
	if err != nil || fmt.Sprint(got) != "[0 2 1]" {
		t.Errorf("ParseQoSList(0, 2,1,2) = %v, %v; want [0 2 1]", got, err)
	}
	for _, bad := range []string{"3", "", "0,,1", "one", "-1"} {
		if _, err := ParseQoSList(bad); err == nil {
			t.Errorf("ParseQoSList(%q) = nil error", bad)
		}
	}
}

// startBroker serves mqtool's own broker on a free loopback port until the
// returned stop is called (or the test ends).
// TestRunShared checks a shared subscription: three subscribers share
// every message of two publishers, each delivered once to one of them
// [MQTT-4.8.2], so the group as a whole loses nothing, and the unpaced QoS 0
// run, whose sends wait on what the group has heard, ends.
func TestRunShared(t *testing.T) {
	url, _ := startBroker(t)
	for _, paced := range []bool{true, false} {
		cfg := quickConfig(url)
		cfg.Client.Version = packet.V5
		cfg.Subscribers = 3
		cfg.Topic = "shared/%i"
		cfg.Filter = "$share/g/shared/+"
		if !paced {
			cfg.Rate, cfg.Duration, cfg.Warmup, cfg.Count = 0, 0, 0, 300
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := Run(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("paced %v: Run: %v", paced, err)
		}
		// Fan-out 1: the group gets each message once.
		checkDelivery(t, res, 1)
		for _, q := range res.Runs {
			if q.QoS > 0 && q.Expected != q.Published {
				t.Errorf("paced %v: qos %d: expected %d deliveries for %d published, want one each", paced, q.QoS, q.Expected, q.Published)
			}
		}
	}
}

func startBroker(t *testing.T) (url string, stop func()) {
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return "mqtt://" + ln.Addr().String(), stop
}

func TestRunBroker(t *testing.T) {
	url, _ := startBroker(t)
	tests := []struct {
		name   string
		mod    func(*Config)
		fanOut int
	}{
		{"pair", func(*Config) {}, 1},
		{"fan-out 1 to 4", func(c *Config) { c.Pattern, c.Publishers, c.Subscribers = FanOut, 1, 4 }, 4},
		{"fan-in 4 to 1", func(c *Config) { c.Pattern, c.Publishers, c.Subscribers = FanIn, 4, 1 }, 1},
		{"mqtt 5 unpaced count", func(c *Config) {
			c.Client.Version = packet.V5
			c.Rate, c.Duration, c.Warmup, c.Count = 0, 0, 0, 500
		}, 1},
		{"tick and one thread", func(c *Config) { c.Rate, c.Tick, c.Procs = 8000, time.Millisecond, 1 }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := quickConfig(url)
			tt.mod(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			procs := runtime.GOMAXPROCS(0)
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			if got := runtime.GOMAXPROCS(0); got != procs {
				t.Errorf("GOMAXPROCS after Run = %d, want %d as before", got, procs)
			}
			if cfg.Procs > 0 && res.Config.Procs != cfg.Procs {
				t.Errorf("result says procs %d, want the %d asked for", res.Config.Procs, cfg.Procs)
			}
			if res.Config.Tick != cfg.Tick.String() {
				t.Errorf("result says tick %q, want %q", res.Config.Tick, cfg.Tick)
			}
			if len(res.Runs) != 3 {
				t.Fatalf("Run gave %d QoS runs, want 3", len(res.Runs))
			}
			checkDelivery(t, res, tt.fanOut)
		})
	}
}

func TestAutoProcs(t *testing.T) {
	half := max(1, runtime.GOMAXPROCS(0)/2)
	tests := []struct {
		name, url, env string
		want           int
	}{
		{"local", "mqtt://127.0.0.1:1883", "", half},
		{"localhost", "mqtt://localhost:1883", "", half},
		{"unix socket", "unix:///tmp/mqtt.sock", "", half},
		{"remote", "mqtt://192.0.2.1:1883", "", 0},
		{"GOMAXPROCS set", "mqtt://127.0.0.1:1883", "3", 0},
		{"bad url", "bogus://x", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tt.env)
			if got := AutoProcs(tt.url); got != tt.want {
				t.Errorf("AutoProcs(%q) with GOMAXPROCS=%q = %d, want %d", tt.url, tt.env, got, tt.want)
			}
		})
	}
}

func TestRunBrokerStopped(t *testing.T) {
	url, stop := startBroker(t)
	cfg := quickConfig(url)
	cfg.QoS = []packet.QoS{2}
	cfg.Duration = 30 * time.Second
	// No warm-up: the first progress report, after a second of the
	// measured window, finds sends in it (with a warm-up it comes as the
	// window opens, and the broker could stop before any send counted).
	cfg.Warmup = 0
	cfg.Progress = func(p Progress) {
		if p.Received > 0 {
			go stop()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run with the broker stopped = %v (deadline: %v), want an error before the deadline", err, ctx.Err())
	}
	if res == nil || len(res.Runs) != 1 || res.Runs[0].Error == "" || res.Runs[0].Sent == 0 {
		t.Errorf("Run with the broker stopped: result %+v, want the partial run with its error", res)
	}
}

// TestRunDetectsLoss runs against a mosquitto that drops QoS 1 and 2
// messages once a subscriber's one-message queue is full (documented
// mosquitto behaviour): bench must count the loss and report it.
func TestRunDetectsLoss(t *testing.T) {
	url, _ := startMosquitto(t, "max_inflight_messages 1", "max_queued_messages 1")
	cfg := quickConfig(url)
	cfg.Pattern, cfg.Publishers, cfg.Subscribers = FanIn, 2, 1
	cfg.QoS = []packet.QoS{1, 2}
	cfg.Rate = 0
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range res.Runs {
		if q.Lost == 0 || q.Lost != q.Expected-q.Delivered || !q.LossIsError() {
			t.Errorf("qos %d: lost %d of %d expected, %d delivered; want the drops counted", q.QoS, q.Lost, q.Expected, q.Delivered)
		}
		if p := q.Problems(); len(p) == 0 || !strings.Contains(p[0], "messages lost") {
			t.Errorf("qos %d problems %q, want the loss", q.QoS, p)
		}
	}
}
