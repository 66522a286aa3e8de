package commands

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/internal/mosquittotest"
)

// startMosquittoBroker runs mosquitto with its own config in a temporary
// directory: a plain listener on a free loopback port, plus extra config
// lines (which may use %s for further free ports, filled from extraPorts).
// Its log has every event, for waitSubacks.
func startMosquittoBroker(t *testing.T, extra string, extraPorts int) (*mosquittotest.Broker, []string) {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{
		Config:     []string{"per_listener_settings false", "log_dest stdout", "log_type all", extra},
		ExtraPorts: extraPorts,
	})
	return b, b.ExtraPorts
}

// waitSubacks waits until the broker has sent a SUBACK to each client id.
func waitSubacks(t *testing.T, b *mosquittotest.Broker, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		log := b.Log()
		missing := ""
		for _, id := range ids {
			if !strings.Contains(log, "Sending SUBACK to "+id+"\n") {
				missing = id
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SUBACK to %s after 15s; broker log:\n%s", missing, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is a started command whose output is collected.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

func startProc(t *testing.T, ctx context.Context, stdin []byte, name string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan error, 1)}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Stdin = bytes.NewReader(stdin)
	p.cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "NO_COLOR=1")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s %q: %v\nstderr: %s", p.cmd.Path, p.cmd.Args[1:], err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("%s %q did not exit in 30s; stdout so far %q", p.cmd.Path, p.cmd.Args[1:], p.stdout.String())
	}
}

func run(t *testing.T, stdin []byte, name string, args ...string) {
	t.Helper()
	p := startProc(t, context.Background(), stdin, name, args...)
	p.wait(t)
}

// subOutputCases are the output flags compared between mosquitto_sub and
// mqtool sub: -v, -N and 26 -F formats (none depends on the time except
// %j, whose "tst" is normalised).
var subOutputCases = [][]string{
	nil,
	{"-v"},
	{"-N"},
	{"-v", "-N"},
	{"-F", "%t %p"},
	{"-F", "%t|%q|%r|%l|%m"},
	{"-F", "%10t|%-10t|%.3t|%-8.3t|%3.10t"},
	{"-F", "%x"},
	{"-F", "%X"},
	{"-F", "%4x|%-7X|%07x"},
	{"-F", "%10p|%-10p|%2p"},
	{"-F", "%05l|%-5l|%5m|%05m|%-3q|%3r"},
	{"-F", "%C|%R|%F|%S|%P|%D"},
	{"-F", "%20C|%-20R|%.4C|%-5F"},
	{"-F", "[%5A|%A|%5R]"},
	{"-F", "%%|\\\\|\\t|\\a|\\v|\\r|\\e[0m"},
	{"-F", "a\\0b"},
	{"-F", "@@|@@@@"},
	{"-F", "%t\\n%p"},
	{"-F", "%P"},
	{"-F", "%D"},
	{"-F", "%p%p"},
	{"-F", "%t=%p;", "-N"},
	{"-v", "-F", "[%p]"},
	{"-F", "%j"},
	{"-F", "%j", "--pretty"},
	{"-F", "%J"},
	{"-F", "<%t %J %l>"},
	{"-F", "%l %x", "-N"},
	{"-F", "%-5m|%q"},
}

var reTST = regexp.MustCompile(`"tst":\s*"[^"]*"`)

// TestInteropSubOutput sends messages with mosquitto_pub through a mosquitto
// broker to mosquitto_sub and to mqtool sub with the same flags, and
// compares their stdout and stderr byte for byte.
func TestInteropSubOutput(t *testing.T) {
	subBin := mosquittotest.Tool(t, "mosquitto_sub")
	pubBin := mosquittotest.Tool(t, "mosquitto_pub")
	b, _ := startMosquittoBroker(t, "", 0)
	dir := t.TempDir()
	binFile := filepath.Join(dir, "bin")
	if err := os.WriteFile(binFile, []byte("\x00\x01\xff\xfe\x7fabc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	props := []string{
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "content-type", "text/plain",
		"-D", "publish", "response-topic", "resp/x",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "user-property", "k1", "v1",
		"-D", "publish", "user-property", "k1", "v2",
	}
	msgs := [][]string{
		append([]string{"-t", "hello", "-q", "0", "-m", "hello world"}, props...),
		{"-t", "empty", "-q", "1", "-n"},
		{"-t", "bin", "-q", "2", "-f", binFile, "-D", "publish", "content-type", "application/octet-stream"},
		{"-t", "json", "-q", "1", "-m", `{"a":[1,2.5,{"b":null,"c":"é\n"}],"d":{},"h":true}`},
		{"-t", "text", "-q", "0", "-m", "not json"},
		{"-t", "ünï/code", "-q", "2", "-m", "\"quoted\" \\ tab\t ü", "-D", "publish", "user-property", "ä", "ö"},
		{"-t", "long/topic/name/for/widths", "-q", "1", "-m", "x"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type pair struct {
		flags       []string
		theirs, our *proc
	}
	count := strconv.Itoa(len(msgs))
	// A few cases at a time: the machine has few cores.
	const batch = 5
	for start := 0; start < len(subOutputCases); start += batch {
		var pairs []pair
		var ids []string
		for i := start; i < min(start+batch, len(subOutputCases)); i++ {
			flags := subOutputCases[i]
			topic := fmt.Sprintf("io/%d/", i)
			// QoS 1, not 2: libmosquitto hands an incoming QoS 2 message
			// over at PUBREL, mqtool at PUBLISH, so the order of a QoS 2
			// message and the next one may differ.
			common := append([]string{"-p", b.Port, "-V", "5", "-q", "1", "-t", topic + "#", "-C", count}, flags...)
			theirID, ourID := fmt.Sprintf("ms-%d", i), fmt.Sprintf("mq-%d", i)
			pairs = append(pairs, pair{
				flags:  flags,
				theirs: startProc(t, ctx, nil, subBin, append([]string{"-i", theirID}, common...)...),
				our:    startProc(t, ctx, nil, "mqtool", append([]string{"sub", "-i", ourID}, common...)...),
			})
			ids = append(ids, theirID, ourID)
		}
		waitSubacks(t, b, ids...)
		for i := start; i < min(start+batch, len(subOutputCases)); i++ {
			topic := fmt.Sprintf("io/%d/", i)
			for _, m := range msgs {
				m = append([]string(nil), m...)
				m[1] = topic + m[1]
				run(t, nil, pubBin, append([]string{"-p", b.Port, "-V", "5"}, m...)...)
			}
		}
		for _, p := range pairs {
			p.theirs.wait(t)
			p.our.wait(t)
			norm := func(b []byte) string { return reTST.ReplaceAllString(string(b), `"tst":"T"`) }
			if got, want := norm(p.our.stdout.Bytes()), norm(p.theirs.stdout.Bytes()); got != want {
				t.Errorf("sub %q stdout:\n%q\nmosquitto_sub printed:\n%q", p.flags, got, want)
			}
			if got, want := p.our.stderr.String(), p.theirs.stderr.String(); got != want {
				t.Errorf("sub %q stderr:\n%q\nmosquitto_sub printed:\n%q", p.flags, got, want)
			}
		}
	}
}

// TestInteropPub publishes with mqtool pub and with mosquitto_pub, with the
// same flags, through a mosquitto broker, and compares what mosquitto_sub
// prints for each.
func TestInteropPub(t *testing.T) {
	subBin := mosquittotest.Tool(t, "mosquitto_sub")
	pubBin := mosquittotest.Tool(t, "mosquitto_pub")
	b, _ := startMosquittoBroker(t, "", 0)
	dir := t.TempDir()
	binFile := filepath.Join(dir, "bin")
	if err := os.WriteFile(binFile, []byte("\x00\x01\xff\xfe\x7fabc\n\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		n     int
	}{
		{name: "qos0", args: []string{"-m", "hello world"}, n: 1},
		{name: "qos1 retained", args: []string{"-m", "kept", "-q", "1", "-r"}, n: 1},
		{name: "qos2 null", args: []string{"-n", "-q", "2"}, n: 1},
		{name: "file", args: []string{"-f", binFile, "-q", "1"}, n: 1},
		{name: "stdin file", args: []string{"-s"}, stdin: "all\nof\nstdin\n", n: 1},
		{name: "stdin lines", args: []string{"-l", "-q", "1"}, stdin: "one\n\nthree\nlast-no-newline", n: 4},
		{name: "topic alias", args: []string{"-l", "-D", "publish", "topic-alias", "1", "-q", "1"}, stdin: "a\nb\nc\n", n: 3},
		{name: "properties", args: []string{"-m", "p", "-D", "publish", "content-type", "text/plain",
			"-D", "publish", "response-topic", "r/t", "-D", "publish", "correlation-data", "cd",
			"-D", "publish", "payload-format-indicator", "1", "-D", "publish", "user-property", "a", "b",
			"-D", "publish", "user-property", "a", "c"}, n: 1},
		{name: "repeat", args: []string{"-m", "again", "--repeat", "3", "-q", "2"}, n: 3},
		{name: "v31", args: []string{"-m", "old", "-V", "31", "-q", "1"}, n: 1},
		{name: "v5 with will and session", args: []string{"-m", "x", "-V", "5", "-c", "-i", "pubsess", "-x", "30",
			"--will-topic", "w", "--will-payload", "bye"}, n: 1},
	}
	format := "%t|%q|%r|%l|%x|%C|%R|%D|%F|%P"
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var outs [2]string
			for k, prog := range []string{pubBin, "mqtool"} {
				topic := fmt.Sprintf("ip/%d/%d", i, k)
				id := fmt.Sprintf("ipsub-%d-%d", i, k)
				sub := startProc(t, context.Background(), nil, subBin, "-p", b.Port, "-V", "5", "-q", "2", "-i", id,
					"-t", topic, "-C", strconv.Itoa(tt.n), "-F", format)
				waitSubacks(t, b, id)
				args := append([]string{"-p", b.Port, "-t", topic}, tt.args...)
				if prog == "mqtool" {
					args = append([]string{"pub"}, args...)
				}
				run(t, []byte(tt.stdin), prog, args...)
				sub.wait(t)
				outs[k] = strings.ReplaceAll(sub.stdout.String(), topic, "TOPIC")
			}
			if outs[1] != outs[0] {
				t.Errorf("mosquitto_sub printed for mqtool pub %q:\n%s\nfor mosquitto_pub:\n%s", tt.args, outs[1], outs[0])
			}
		})
	}

	t.Run("zero-length retained clears", func(t *testing.T) {
		run(t, nil, "mqtool", "pub", "-p", b.Port, "-t", "ip/clear", "-m", "x", "-r")
		run(t, nil, "mqtool", "pub", "-p", b.Port, "-t", "ip/clear", "-n", "-r")
		sub := startProc(t, context.Background(), nil, subBin, "-p", b.Port, "-t", "ip/clear", "-W", "1")
		err := <-sub.done
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 27 || sub.stdout.Len() != 0 {
			t.Errorf("mosquitto_sub after clearing: %v, stdout %q; want exit 27 and no output", err, sub.stdout.String())
		}
	})
}

// writeCerts writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM, to dir.
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqtool test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	write("server.pem", "CERTIFICATE", srvDER)
	writeKey("server.key", srvKey)
	cliDER, cliKey := leaf(3, "mqtool client", x509.ExtKeyUsageClientAuth, nil)
	write("client.pem", "CERTIFICATE", cliDER)
	writeKey("client.key", cliKey)
}

// TestInteropTLS connects mqtool pub and sub to mosquitto's TLS listeners
// (server authentication, and mutual TLS) with certificates made here.
func TestInteropTLS(t *testing.T) {
	subBin := mosquittotest.Tool(t, "mosquitto_sub")
	dir, err := os.MkdirTemp("", "mqtool-tls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCerts(t, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	tlsConf := "cafile " + f("ca.pem") + "\ncertfile " + f("server.pem") + "\nkeyfile " + f("server.key") + "\n"
	b, ports := startMosquittoBroker(t, "listener %s 127.0.0.1\n"+tlsConf+"listener %s 127.0.0.1\n"+tlsConf+"require_certificate true\n", 2)
	tlsPort, mtlsPort := ports[0], ports[1]

	ok := func(stdin []byte, args ...string) string {
		t.Helper()
		p := startProc(t, context.Background(), stdin, "mqtool", args...)
		p.wait(t)
		return p.stdout.String()
	}
	fails := func(code int, stderr string, args ...string) {
		t.Helper()
		p := startProc(t, context.Background(), nil, "mqtool", args...)
		err := <-p.done
		var ee *exec.ExitError
		if !errors.As(err, &ee) || (code != 0 && ee.ExitCode() != code) || !strings.Contains(p.stderr.String(), stderr) {
			t.Errorf("mqtool %q: %v, stderr %q; want exit %d and %q", args, err, p.stderr.String(), code, stderr)
		}
	}

	ok(nil, "pub", "-h", "127.0.0.1", "-p", tlsPort, "--cafile", f("ca.pem"), "-t", "tls/a", "-m", "over tls", "-r", "-q", "1")
	p := startProc(t, context.Background(), nil, subBin, "-p", b.Port, "-t", "tls/a", "-C", "1", "-v")
	p.wait(t)
	if got := p.stdout.String(); got != "tls/a over tls\n" {
		t.Errorf("mosquitto_sub got %q from mqtool pub over TLS, want %q", got, "tls/a over tls\n")
	}
	if got := ok(nil, "sub", "-L", "mqtts://127.0.0.1:"+tlsPort+"/tls/a", "--cafile", f("ca.pem"), "-C", "1", "-v"); got != "tls/a over tls\n" {
		t.Errorf("sub -L mqtts:// got %q, want %q", got, "tls/a over tls\n")
	}
	for _, v := range []string{"tlsv1.2", "tlsv1.3"} {
		if got := ok(nil, "sub", "-h", "127.0.0.1", "-p", tlsPort, "--capath", dir, "--tls-version", v, "-t", "tls/a", "-C", "1"); got != "over tls\n" {
			t.Errorf("sub --capath --tls-version %s got %q", v, got)
		}
	}
	// The certificate names 127.0.0.1, not localhost.
	fails(8, "not valid for", "pub", "-h", "localhost", "-p", tlsPort, "--cafile", f("ca.pem"), "-t", "tls/x", "-m", "x")
	// The system roots do not know the test CA: TLS verification fails (exit 8).
	fails(8, "certificate", "pub", "-p", tlsPort, "--tls-use-os-certs", "-t", "tls/x", "-m", "x")
	// --insecure skips verification.
	ok(nil, "pub", "-p", tlsPort, "--tls-use-os-certs", "--insecure", "-t", "tls/x", "-m", "x")
	// Mutual TLS: refused without a client certificate, accepted with one.
	fails(0, "Error", "pub", "-p", mtlsPort, "--cafile", f("ca.pem"), "-t", "tls/m", "-m", "x")
	ok(nil, "pub", "-h", "127.0.0.1", "-p", mtlsPort, "--cafile", f("ca.pem"), "--cert", f("client.pem"), "--key", f("client.key"), "-t", "tls/m", "-m", "mutual", "-r")
	if got := ok(nil, "sub", "-h", "127.0.0.1", "-p", mtlsPort, "--cafile", f("ca.pem"), "--cert", f("client.pem"), "--key", f("client.key"), "-t", "tls/m", "-C", "1"); got != "mutual\n" {
		t.Errorf("sub over mutual TLS got %q, want %q", got, "mutual\n")
	}
	fails(1, "Problem setting TLS options", "pub", "-p", tlsPort, "--cafile", f("missing.pem"), "-t", "x", "-m", "x")
	fails(1, "Problem setting TLS options, check the options are valid.", "pub", "-p", tlsPort, "--cafile", f("ca.pem"), "--tls-version", "tlsv1.1", "-t", "x", "-m", "x")
	// --tls-alpn offers a protocol; mosquitto 2.0 ignores it.
	ok(nil, "pub", "-h", "127.0.0.1", "-p", tlsPort, "--cafile", f("ca.pem"), "--tls-alpn", "mqtt", "-t", "tls/x", "-m", "x")
	// --no-tls turns TLS off despite --cafile: the plain listener accepts it.
	ok(nil, "pub", "-p", b.Port, "--cafile", f("ca.pem"), "--no-tls", "-t", "tls/x", "-m", "x")
}

// TestInteropTransports publishes with mqtool over WebSocket (--ws and
// -L ws://) and a unix socket (--unix) to mosquitto, and subscribes over
// WebSocket.
func TestInteropTransports(t *testing.T) {
	subBin := mosquittotest.Tool(t, "mosquitto_sub")
	dir, err := os.MkdirTemp("", "mqtool-unix")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// mosquitto may drop root privileges before it creates the socket.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "mosquitto.sock")
	b, ports := startMosquittoBroker(t, "listener %s 127.0.0.1\nprotocol websockets\nlistener 0 "+sock+"\n", 1)
	wsPort := ports[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto made no unix socket at %s:\n%s", sock, b.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sub := startProc(t, context.Background(), nil, subBin, "-p", b.Port, "-i", "tsub", "-t", "tr/#", "-C", "3", "-v")
	waitSubacks(t, b, "tsub")
	run(t, nil, "mqtool", "pub", "--ws", "-p", wsPort, "-t", "tr/ws", "-m", "over websocket", "-q", "1")
	run(t, nil, "mqtool", "pub", "-L", "ws://127.0.0.1:"+wsPort+"/tr/url", "-m", "ws url")
	run(t, nil, "mqtool", "pub", "--unix", sock, "-t", "tr/unix", "-m", "over unix", "-q", "2")
	sub.wait(t)
	if got, want := sub.stdout.String(), "tr/ws over websocket\ntr/url ws url\ntr/unix over unix\n"; got != want {
		t.Errorf("mosquitto_sub printed %q, want %q", got, want)
	}
	run(t, nil, "mqtool", "pub", "--unix", sock, "-t", "tr/kept", "-m", "kept", "-r")
	p := startProc(t, context.Background(), nil, "mqtool", "sub", "--ws", "-p", wsPort, "-t", "tr/kept", "-C", "1")
	p.wait(t)
	if got := p.stdout.String(); got != "kept\n" {
		t.Errorf("sub --ws printed %q, want %q", got, "kept\n")
	}
}
