package format

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mqtool/mqtool/internal/mosquittotest"
	"github.com/mqtool/mqtool/packet"
)

// startMosquitto runs a mosquitto broker on a free loopback port with its own
// config in a temporary directory and returns its address.
func startMosquitto(t *testing.T) string {
	t.Helper()
	return mosquittotest.Start(t, mosquittotest.Options{Config: []string{"sys_interval 1"}}).Addr
}

// rawClient is a minimal MQTT client built on the packet codec.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	v    packet.Version
}

func dialRaw(t *testing.T, addr string, v packet.Version, id string, subs ...packet.Subscription) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), v: v}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := packet.Write(conn, &packet.Connect{Version: v, CleanStart: true, KeepAlive: 60, ClientID: id}, v); err != nil {
		t.Fatal(err)
	}
	if ack, ok := c.read(t).(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK = %+v", ack)
	}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: subs}
	if v == packet.V5 {
		sub.Props.SubscriptionIDs = []uint32{7}
	}
	if err := packet.Write(conn, sub, v); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.read(t).(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	return c
}

func (c *rawClient) read(t *testing.T) packet.Packet {
	t.Helper()
	p, err := packet.Read(c.r, c.v, 0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

// next returns the next PUBLISH, acknowledging it at QoS 1 and 2.
func (c *rawClient) next(t *testing.T) *packet.Publish {
	t.Helper()
	for {
		switch p := c.read(t).(type) {
		case *packet.Publish:
			switch p.QoS {
			case packet.AtLeastOnce:
				packet.Write(c.conn, &packet.Puback{PacketID: p.PacketID}, c.v)
			case packet.ExactlyOnce:
				packet.Write(c.conn, &packet.Pubrec{PacketID: p.PacketID}, c.v)
			}
			return p
		case *packet.Pubrel:
			packet.Write(c.conn, &packet.Pubcomp{PacketID: p.PacketID}, c.v)
		}
	}
}

// interopMessage is published with mosquitto_pub.
type interopMessage struct {
	args    []string
	payload []byte // written to a file for -f; nil means -n
}

func interopMessages(prefix string) []interopMessage {
	props := []string{
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "message-expiry-interval", "3600",
		"-D", "publish", "content-type", "text/plain",
		"-D", "publish", "response-topic", "resp/x",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "user-property", "k1", "v1",
		"-D", "publish", "user-property", "k1", "v2",
	}
	return []interopMessage{
		{args: append([]string{"-t", prefix + "hello", "-q", "0"}, props...), payload: []byte("hello world")},
		{args: []string{"-t", prefix + "empty", "-q", "1"}},
		{args: []string{"-t", prefix + "bin", "-q", "2", "-D", "publish", "content-type", "application/octet-stream"}, payload: []byte("\x00\x01\xff\xfe\x7fabc")},
		{args: []string{"-t", prefix + "json", "-q", "1", "-r"}, payload: []byte(` {"a":[1,2.50,{"b":null,"c":"\u00e9\n"}],"d":{},"e":[],"f":1e20,"g":-0,"h":true,"i":0.1,"j":123456789012345678} `)},
		{args: []string{"-t", prefix + "text", "-q", "0"}, payload: []byte("not json")},
		{args: []string{"-t", prefix + "ünï/code", "-q", "2", "-D", "publish", "user-property", "ä", "ö"}, payload: []byte("\"quoted\" \\ tab\t ü \x1f")},
		{args: []string{"-t", prefix + "eight", "-q", "1"}, payload: []byte("\x01\x23\x45\x67\x89\xab\xcd\xef")},
		{args: []string{"-t", prefix + "json/edge", "-q", "0"}, payload: []byte("\xEF\xBB\xBF[1.0,007,1e400,-1e-7,\"\\ud83d\\ude00\",\"a\\u0000b\",{\"k\":1,\"k\":2},\"\x01\"]")},
		{args: []string{"-t", prefix + "json/space", "-q", "0"}, payload: []byte("\x01\x1f7\x02")},
	}
}

// interopCase is one set of output flags given to mosquitto_sub and Output.
type interopCase struct {
	name  string
	flags []string
	out   Output
	timed bool // the output depends on the time: matched per second
}

func interopCases() []interopCase {
	f := func(name, format string) interopCase {
		return interopCase{name: name, flags: []string{"-F", format}, out: Output{Format: format}}
	}
	timed := func(c interopCase) interopCase { c.timed = true; return c }
	pretty := func(c interopCase) interopCase {
		c.flags = append(c.flags, "--pretty")
		c.out.Pretty = true
		return c
	}
	return []interopCase{
		{name: "default", out: Output{}},
		{name: "-v", flags: []string{"-v"}, out: Output{Verbose: true}},
		{name: "-N", flags: []string{"-N"}, out: Output{NoEOL: true}},
		{name: "-v -N", flags: []string{"-v", "-N"}, out: Output{Verbose: true, NoEOL: true}},
		{name: "-F -N", flags: []string{"-F", "%t=%p;", "-N"}, out: Output{Format: "%t=%p;", NoEOL: true}},
		{name: "-F overrides -v", flags: []string{"-v", "-F", "[%p]"}, out: Output{Verbose: true, Format: "[%p]"}},
		f("topic payload", "%t %p"),
		f("fields", "%t|%q|%r|%l|%m"),
		f("string widths", "%10t|%-10t|%.3t|%-8.3t|%3.10t|%.0t|%.t"),
		f("hex lower", "%x"),
		f("hex upper", "%X"),
		f("hex widths", "%4x|%3x|%-7X|%07x|%20x"),
		f("payload widths", "%10p|%-10p|%2p|%05p|%-05p"),
		f("int widths", "%05l|%-5l|%5m|%05m|%-3q|%3r"),
		f("properties", "%C|%R|%E|%F|%S|%P|%D"),
		f("property widths", "%20C|%-20R|%.4C|%05C|%8E|%-5F|%05S"),
		f("absent property padding", "[%5A|%05A|%-05A|%A|%5R]"),
		f("percent and escapes", "%%|%5%|\\\\|\\t|\\a|\\v|\\r|\\e[0m|%-%"),
		f("NUL escape", "a\\0b"),
		f("at signs", "@@|@@@@"),
		f("newline escape", "%t\\n%p"),
		f("user properties", "%P"),
		f("correlation data", "%D"),
		f("payload twice", "%p%p"),
		f("width on unpadded codes", "%5P|%5D|%5q|%05r"),
		timed(f("JSON payload", "%J")),
		timed(pretty(f("JSON payload pretty", "%J"))),
		timed(f("JSON payload between fields", "<%t %J %l>")),
		timed(f("JSON payload twice", "%J%J")),
		timed(f("JSON", "%j")),
		timed(pretty(f("JSON pretty", "%j"))),
		timed(f("ISO time", "%I|%30I|%-30I|%.10I")),
		timed(f("unix time", "%U")),
		timed(f("strftime", "@Y-@m-@dT@H:@M:@S@z @a @A @b @B @c @C @d @D @e @F @g @G @h @H @I @j @k @l @m @M @p @P @r @R @s @S @u @U @V @w @W @x @X @y @Y @Z @% @Q @E @+ @n@t")),
		timed(f("nanoseconds", "N=@N;")),
	}
}

var (
	// Sub-second digits differ between separate clock readings; the
	// seconds before them are compared.
	reUnixNanos = regexp.MustCompile(`(\d{10})\.\d{9}`)
	reJSONMicro = regexp.MustCompile(`\.\d{6}Z`)
	reNanos     = regexp.MustCompile(`N=\d{9};`)
)

func normaliseTime(b []byte) []byte {
	b = reUnixNanos.ReplaceAll(b, []byte("${1}.NANOS"))
	b = reJSONMicro.ReplaceAll(b, []byte(".MICROSZ"))
	return reNanos.ReplaceAll(b, []byte("N=NANOS;"))
}

// TestInteropMosquittoSub publishes messages with mosquitto_pub through a
// mosquitto broker to one mosquitto_sub per output case and to a raw
// subscriber, and compares mosquitto_sub's stdout byte for byte with what
// Printer prints for the same messages. The broker may deliver QoS 0
// messages ahead of QoS 1 and 2 ones, so the comparison accepts the
// messages in any order; each message's output must match whole.
func TestInteropMosquittoSub(t *testing.T) {
	subBin := mosquittotest.Tool(t, "mosquitto_sub")
	pubBin := mosquittotest.Tool(t, "mosquitto_pub")
	addr := startMosquitto(t)
	host, port, _ := net.SplitHostPort(addr)

	zone := "UTC"
	if _, err := time.LoadLocation("Asia/Kolkata"); err == nil {
		zone = "Asia/Kolkata" // +0530 exercises the zone offset
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := 0
	publish := func(t *testing.T, ctx context.Context, m interopMessage) {
		t.Helper()
		args := append([]string{"-h", host, "-p", port, "-V", "5"}, m.args...)
		if m.payload == nil {
			args = append(args, "-n")
		} else {
			files++
			file := filepath.Join(dir, fmt.Sprintf("payload-%d", files))
			if err := os.WriteFile(file, m.payload, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-f", file)
		}
		if out, err := exec.CommandContext(ctx, pubBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %q: %v: %s", args, err, out)
		}
	}

	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			prefix := fmt.Sprintf("t%d/", v)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// Delivered on subscribe, with the retain flag set.
			publish(t, ctx, interopMessage{args: []string{"-t", prefix + "retained", "-q", "1", "-r",
				"-D", "publish", "content-type", "text/retained"}, payload: []byte("kept")})
			defer publish(t, ctx, interopMessage{args: []string{"-t", prefix + "retained", "-r"}})
			msgs := interopMessages(prefix)
			cases := interopCases()

			type result struct {
				stdout, stderr bytes.Buffer
				err            error
			}
			results := make([]*result, len(cases))
			var wg sync.WaitGroup
			for i, c := range cases {
				args := []string{"-h", host, "-p", port, "-t", prefix + "#", "-q", "2", "-C", strconv.Itoa(len(msgs) + 1),
					"-i", fmt.Sprintf("interop-%d-%d", v, i)}
				if v == packet.V5 {
					args = append(args, "-V", "5", "-D", "subscribe", "subscription-identifier", "7")
				} else {
					args = append(args, "-V", "311")
				}
				cmd := exec.CommandContext(ctx, subBin, append(args, c.flags...)...)
				cmd.Env = append(os.Environ(), "TZ="+zone)
				r := &result{}
				results[i] = r
				cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() { defer wg.Done(); r.err = cmd.Wait() }()
			}
			defer wg.Wait()

			start := time.Now()
			sub := dialRaw(t, addr, v, fmt.Sprintf("interop-raw-%d", v),
				packet.Subscription{Filter: prefix + "#", QoS: packet.ExactlyOnce})
			waitSubscriptions(t, addr, len(cases)+2)
			for _, m := range msgs {
				publish(t, ctx, m)
			}
			got := make([]*packet.Publish, len(msgs)+1)
			for i := range got {
				got[i] = sub.next(t)
			}
			wg.Wait()
			end := time.Now()

			for i, c := range cases {
				r := results[i]
				t.Run(c.name, func(t *testing.T) {
					if r.err != nil {
						t.Fatalf("mosquitto_sub %q: %v: %s", c.flags, r.err, r.stderr.String())
					}
					p, err := NewPrinter(c.out)
					if err != nil {
						t.Fatalf("NewPrinter(%+v): %v", c.out, err)
					}
					seconds := []time.Time{start.In(loc)}
					if c.timed {
						seconds = nil
						for s := start.Truncate(time.Second); !s.After(end); s = s.Add(time.Second) {
							seconds = append(seconds, s.In(loc))
						}
					}
					// Each message's output and notices at each candidate time.
					outs := make([][][]byte, len(got))
					var notices []string
					for k, m := range got {
						for j, sec := range seconds {
							var out bytes.Buffer
							err := p.Print(&out, m, sec)
							if n, ok := err.(interface{ Notice() string }); ok {
								if j == 0 {
									notices = append(notices, n.Notice())
								}
							} else if err != nil {
								t.Fatalf("Print: %v", err)
							}
							outs[k] = append(outs[k], normaliseTime(out.Bytes()))
						}
					}
					want := normaliseTime(r.stdout.Bytes())
					if !matchAnyOrder(want, outs, make([]bool, len(outs))) {
						var ours bytes.Buffer
						for _, o := range outs {
							ours.Write(o[0])
						}
						t.Errorf("mosquitto_sub %q printed\n%q\nPrinter printed (in some order, at one of %d seconds)\n%q",
							c.flags, want, len(seconds), ours.Bytes())
					}
					wantErr := strings.SplitAfter(r.stderr.String(), "\n")
					gotErr := strings.SplitAfter(strings.Join(notices, ""), "\n")
					sort.Strings(wantErr)
					sort.Strings(gotErr)
					if diff := cmp.Diff(wantErr, gotErr); diff != "" {
						t.Errorf("stderr lines (-mosquitto_sub +Printer notices):\n%s", diff)
					}
				})
			}
			t.Logf("compared %d output cases with %s for %d messages at MQTT %s", len(cases), subBin, len(got), v)
		})
	}
}

// matchAnyOrder reports whether want is the concatenation of one candidate
// rendering of every message not yet used, in some order.
func matchAnyOrder(want []byte, outs [][][]byte, used []bool) bool {
	done := true
	for k, cands := range outs {
		if used[k] {
			continue
		}
		done = false
		for _, c := range cands {
			if !bytes.HasPrefix(want, c) {
				continue
			}
			used[k] = true
			if matchAnyOrder(want[len(c):], outs, used) {
				return true
			}
			used[k] = false
		}
	}
	return done && len(want) == 0
}

// waitSubscriptions polls the broker's $SYS subscription count until it
// reaches n.
func waitSubscriptions(t *testing.T, addr string, n int) {
	t.Helper()
	c := dialRaw(t, addr, packet.V311, "interop-sys", packet.Subscription{Filter: "$SYS/broker/subscriptions/count"})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		m := c.next(t)
		if got, _ := strconv.Atoi(string(m.Payload)); got >= n {
			return
		}
	}
	t.Fatalf("fewer than %d subscriptions after 20s", n)
}
