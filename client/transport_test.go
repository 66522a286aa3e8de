package client

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqtool/mqtool/packet"
)

// testCert returns a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqtool test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// roundTrip is a script that accepts, echoes one QoS 1 publish back as a
// message and waits for DISCONNECT.
func roundTrip(t *testing.T) func(f *fakeConn) {
	return func(f *fakeConn) {
		f.accept(nil)
		p := expect[*packet.Publish](f)
		if p == nil {
			return
		}
		f.write(&packet.Puback{PacketID: p.PacketID})
		f.write(&packet.Publish{Topic: p.Topic, Payload: p.Payload})
		expect[*packet.Disconnect](f)
	}
}

// checkRoundTrip publishes at QoS 1 and waits for the echo.
func checkRoundTrip(t *testing.T, opts Options) {
	t.Helper()
	msgs := make(chan string, 1)
	opts.OnMessage = func(p *packet.Publish) { msgs <- p.Topic + " " + string(p.Payload) }
	ctx, cancel := context.WithTimeout(context.Background(), fakeTimeout)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", opts.URL, err)
	}
	defer c.Close()
	if err := c.Publish(ctx, &packet.Publish{Topic: "t/x", QoS: 1, Payload: []byte("over the wire")}); err != nil {
		t.Fatalf("Publish = %v", err)
	}
	select {
	case m := <-msgs:
		if m != "t/x over the wire" {
			t.Errorf("message %q, want %q", m, "t/x over the wire")
		}
	case <-ctx.Done():
		t.Fatal("no message back")
	}
	if err := c.Disconnect(ctx, nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
}

func TestTLS(t *testing.T) {
	cert, pool := testCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := serveFake(t, ln, "mqtts://"+ln.Addr().String(), func(f *fakeConn) {
		if f.c.(*tls.Conn).Handshake() != nil {
			return // the unknown authority case
		}
		roundTrip(t)(f)
	})
	t.Run("verified", func(t *testing.T) {
		checkRoundTrip(t, Options{URL: s.url, TLS: &tls.Config{RootCAs: pool}})
	})
	t.Run("unknown authority", func(t *testing.T) {
		_, err := Dial(context.Background(), Options{URL: s.url, TLS: &tls.Config{RootCAs: x509.NewCertPool()}})
		var uerr x509.UnknownAuthorityError
		if !errors.As(err, &uerr) {
			t.Errorf("Dial = %v, want x509.UnknownAuthorityError", err)
		}
	})
}

// startWS serves the fake script over WebSocket at path with the mqtt subprotocol.
func startWS(t *testing.T, tlsCfg *tls.Config, script func(f *fakeConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "ws"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "wss"
	}
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/mqtt", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Errorf("websocket.Accept: %v", err)
			return
		}
		if ws.Subprotocol() != "mqtt" {
			t.Errorf("subprotocol %q, want mqtt", ws.Subprotocol())
		}
		c := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
		defer c.Close()
		script(&fakeConn{t: t, c: c, br: bufio.NewReader(c), v: packet.V311})
	})
	srv := &http.Server{Handler: mux}
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), fakeTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return scheme + "://" + ln.Addr().String()
}

func TestWebSocket(t *testing.T) {
	t.Run("ws", func(t *testing.T) {
		url := startWS(t, nil, roundTrip(t))
		checkRoundTrip(t, Options{URL: url})
	})
	t.Run("wss", func(t *testing.T) {
		cert, pool := testCert(t)
		url := startWS(t, &tls.Config{Certificates: []tls.Certificate{cert}}, roundTrip(t))
		checkRoundTrip(t, Options{URL: url + "/mqtt", TLS: &tls.Config{RootCAs: pool}})
	})
	t.Run("wrong path", func(t *testing.T) {
		url := startWS(t, nil, roundTrip(t))
		_, err := Dial(context.Background(), Options{URL: url + "/other"})
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("Dial = %v, want a 404 failure", err)
		}
	})
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := serveFake(t, ln, "unix://"+path, roundTrip(t))
	checkRoundTrip(t, Options{URL: s.url})
}

func TestDialerOverride(t *testing.T) {
	s := startFake(t, roundTrip(t))
	addr := strings.TrimPrefix(s.url, "mqtt://")
	checkRoundTrip(t, Options{URL: "mqtt://unused.invalid", Dialer: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}})
}

func TestBindAddress(t *testing.T) {
	got := make(chan string, 1)
	s := startFake(t, func(f *fakeConn) {
		got <- f.c.RemoteAddr().(*net.TCPAddr).IP.String()
		roundTrip(t)(f)
	})
	checkRoundTrip(t, Options{URL: s.url, BindAddress: "127.0.0.1"})
	if ip := <-got; ip != "127.0.0.1" {
		t.Errorf("client address %s, want 127.0.0.1", ip)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(context.Background(), Options{URL: "mqtt://" + addr})
	if err == nil || !strings.HasPrefix(err.Error(), "client: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Dial = %v, want client: ... connection refused", err)
	}
}
