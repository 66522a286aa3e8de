package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// Transport is how a URL reaches the server.
type Transport byte

// Transports Dial supports.
const (
	TCP Transport = iota + 1
	TLS
	WebSocket
	SecureWebSocket
	Unix
)

// String returns the URL scheme of t.
func (t Transport) String() string {
	switch t {
	case TCP:
		return "mqtt"
	case TLS:
		return "mqtts"
	case WebSocket:
		return "ws"
	case SecureWebSocket:
		return "wss"
	case Unix:
		return "unix"
	}
	return fmt.Sprintf("Transport(%d)", byte(t))
}

// Endpoint is a parsed server URL.
type Endpoint struct {
	Transport Transport
	Host      string // host name or address, without brackets
	Port      string
	Path      string // WebSocket path (default /mqtt) or unix socket path
}

// Address returns host:port, or the socket path for Unix.
func (e Endpoint) Address() string {
	if e.Transport == Unix {
		return e.Path
	}
	return net.JoinHostPort(e.Host, e.Port)
}

// ParseURL parses a server URL: mqtt://host:port (also tcp://),
// mqtts://host:port (also ssl://, tls://), ws://host:port/path,
// wss://host:port/path or unix:///path. A missing host is localhost; a
// missing port is 1883 for mqtt, 8883 for mqtts, 80 for ws and 443 for wss;
// a missing WebSocket path is /mqtt. An empty URL is mqtt://localhost:1883.
func ParseURL(raw string) (Endpoint, error) {
	if raw == "" {
		return Endpoint{Transport: TCP, Host: "localhost", Port: "1883"}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, fmt.Errorf("client: bad URL %q: %w", raw, err)
	}
	var e Endpoint
	def := ""
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		e.Transport, def = TCP, "1883"
	case "mqtts", "ssl", "tls":
		e.Transport, def = TLS, "8883"
	case "ws":
		e.Transport, def = WebSocket, "80"
	case "wss":
		e.Transport, def = SecureWebSocket, "443"
	case "unix":
		e.Transport = Unix
		e.Path = u.Path
		if e.Path == "" {
			e.Path = u.Opaque
		}
		if e.Path == "" {
			return Endpoint{}, fmt.Errorf("client: bad URL %q: no socket path", raw)
		}
		return e, nil
	default:
		return Endpoint{}, fmt.Errorf("client: bad URL %q: unsupported scheme %q", raw, u.Scheme)
	}
	e.Host = u.Hostname()
	if e.Host == "" {
		e.Host = "localhost"
	}
	e.Port = u.Port()
	if e.Port == "" {
		e.Port = def
	}
	if e.Transport == WebSocket || e.Transport == SecureWebSocket {
		e.Path = u.EscapedPath()
		if e.Path == "" {
			e.Path = "/mqtt"
		}
		if u.RawQuery != "" {
			e.Path += "?" + u.RawQuery
		}
	}
	return e, nil
}

// dialURL opens the connection opts.URL names.
func dialURL(ctx context.Context, opts *Options) (net.Conn, error) {
	e, err := ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{}
	if opts.BindAddress != "" && e.Transport != Unix {
		ip, err := net.DefaultResolver.LookupIPAddr(ctx, opts.BindAddress)
		if err != nil || len(ip) == 0 {
			return nil, fmt.Errorf("client: bind address %q: %w", opts.BindAddress, err)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip[0].IP, Zone: ip[0].Zone}
	}
	tlsConfig := func() *tls.Config {
		cfg := opts.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg = cfg.Clone()
			cfg.ServerName = e.Host
		}
		return cfg
	}
	switch e.Transport {
	case TCP:
		conn, err := d.DialContext(ctx, "tcp", e.Address())
		if err != nil {
			return nil, err
		}
		if opts.NoDelay {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
		}
		return conn, nil
	case TLS:
		td := &tls.Dialer{NetDialer: d, Config: tlsConfig()}
		return td.DialContext(ctx, "tcp", e.Address())
	case Unix:
		return d.DialContext(ctx, "unix", e.Path)
	}
	scheme := "ws"
	tr := &http.Transport{DialContext: d.DialContext, ForceAttemptHTTP2: false}
	if e.Transport == SecureWebSocket {
		scheme = "wss"
		tr.TLSClientConfig = tlsConfig()
	}
	defer tr.CloseIdleConnections()
	ws, _, err := websocket.Dial(ctx, scheme+"://"+e.Address()+e.Path, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		Subprotocols: []string{"mqtt"},
	})
	if err != nil {
		return nil, err
	}
	// The net.Conn lives until closed, not until ctx ends.
	return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
}
