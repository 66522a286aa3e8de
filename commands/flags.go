package commands

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

// Flag categories shown in --help.
const (
	catConnection   = "Connection"
	catAuth         = "Authentication"
	catTLS          = "TLS"
	catWill         = "Will"
	catSession      = "Session"
	catMQTT5        = "MQTT 5"
	catMessage      = "Message"
	catSubscription = "Subscription"
	catOutput       = "Output"
	catDiagnostics  = "Diagnostics"
)

// passwordEnv names the environment variable that supplies the password
// when -u is given and no other password option is.
const passwordEnv = "MQTOOL_PASSWORD"

// connectionFlags returns the flags shared by pub, sub, rr and bench for
// command cmd.
func connectionFlags(cmd string) []cli.Flag {
	defVersion := "311"
	if cmd == "rr" {
		defVersion = "5"
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "host", Aliases: []string{"h"}, Category: catConnection,
			Usage: "broker host name or address (default: localhost)"},
		&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Category: catConnection,
			Usage: "broker `PORT`, 0-65535 (default: 1883, or 8883 with TLS)"},
		&cli.StringFlag{Name: "url", Aliases: []string{"L"}, Category: catConnection,
			Usage: "connect to `URL` mqtt|mqtts|ws|wss://[user[:pass]@]host[:port]/topic; the path is the topic (default: none)"},
		&cli.StringFlag{Name: "unix", Category: catConnection,
			Usage: "connect through the unix domain socket at `PATH` instead of TCP (default: none)"},
		&cli.BoolFlag{Name: "ws", Category: catConnection,
			Usage: "connect over WebSocket, path /mqtt (default: false)"},
		&cli.StringFlag{Name: "A", Category: catConnection,
			Usage: "bind the outgoing socket to local `ADDRESS` (default: any)"},
		&cli.StringFlag{Name: "protocol-version", Aliases: []string{"V"}, Category: catConnection,
			Usage: "MQTT `VERSION`: 31, 311, 5 or mqttv31, mqttv311, mqttv5 (default: " + defVersion + "; -x and -D force 5)"},
		&cli.IntFlag{Name: "keepalive", Aliases: []string{"k"}, Value: 60, Category: catConnection,
			Usage: "keep-alive interval in `SECONDS`, 5-65535"},
		&cli.BoolFlag{Name: "nodelay", Category: catConnection,
			Usage: "disable Nagle's algorithm (TCP_NODELAY) (default: false)"},
		&cli.IntFlag{Name: "M", Value: 20, Category: catConnection,
			Usage: "maximum QoS 1 and 2 messages in flight, `N` >= 1"},

		&cli.StringFlag{Name: "id", Aliases: []string{"i"}, Category: catSession,
			Usage: "client `ID` (default: empty, the broker assigns one)"},
		&cli.StringFlag{Name: "id-prefix", Aliases: []string{"I"}, Category: catSession,
			Usage: "client ID is `PREFIX` followed by the process id (default: none)"},
		&cli.BoolFlag{Name: "disable-clean-session", Aliases: []string{"c"}, Category: catSession,
			Usage: "keep the session when disconnected (needs -i; at MQTT 5 the session never expires unless -x) (default: false)"},
		&cli.StringFlag{Name: "x", Category: catSession,
			Usage: "session expiry interval in `SECONDS`, 0-4294967295, or -1 or ∞ for never; forces MQTT 5 (default: 0, or ∞ with -c)"},

		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Category: catAuth,
			Usage: "user `NAME` (default: none)"},
		&cli.StringFlag{Name: "pw", Aliases: []string{"P"}, Category: catAuth,
			Usage: "the `PASSWORD`, visible in ps: prefer --pw-file, --pw-prompt or $" + passwordEnv + " (default: none)"},
		&cli.StringFlag{Name: "pw-file", Category: catAuth,
			Usage: "read the password from the first line of `FILE` (default: none)"},
		&cli.BoolFlag{Name: "pw-prompt", Category: catAuth,
			Usage: "prompt for the password on the terminal, or read a line from stdin when it is not a terminal (default: false)"},

		&cli.StringFlag{Name: "will-topic", Category: catWill,
			Usage: "`TOPIC` of the will message (default: no will)"},
		&cli.StringFlag{Name: "will-payload", Category: catWill,
			Usage: "`PAYLOAD` of the will message, needs --will-topic (default: empty)"},
		&cli.IntFlag{Name: "will-qos", Category: catWill,
			Usage: "QoS of the will message, 0-2"},
		&cli.BoolFlag{Name: "will-retain", Category: catWill,
			Usage: "retain the will message, needs --will-topic (default: false)"},

		&cli.StringFlag{Name: "cafile", Category: catTLS,
			Usage: "trust the PEM CA certificates in `FILE`; enables TLS (default: none)"},
		&cli.StringFlag{Name: "capath", Category: catTLS,
			Usage: "trust the PEM CA certificates (*.crt, *.pem) in `DIR`; enables TLS (default: none)"},
		&cli.StringFlag{Name: "cert", Category: catTLS,
			Usage: "client certificate PEM `FILE`, needs --key (default: none)"},
		&cli.StringFlag{Name: "key", Category: catTLS,
			Usage: "client private key PEM `FILE`, needs --cert (default: none)"},
		&cli.BoolFlag{Name: "insecure", Category: catTLS,
			Usage: "do not verify the server certificate (default: false)"},
		&cli.StringFlag{Name: "tls-version", Category: catTLS,
			Usage: "TLS `VERSION`: tlsv1.3 or tlsv1.2 (default: either)"},
		&cli.StringFlag{Name: "tls-alpn", Category: catTLS,
			Usage: "ALPN `PROTOCOL` to offer (default: none)"},
		&cli.BoolFlag{Name: "tls-use-os-certs", Category: catTLS,
			Usage: "trust the system's CA certificates; enables TLS (default: false, true for mqtts:// and port 8883)"},
		&cli.BoolFlag{Name: "no-tls", Category: catTLS,
			Usage: "turn TLS off, overriding options files and port 8883 (default: false)"},

		&cli.StringSliceFlag{Name: "property", Aliases: []string{"D"}, Category: catMQTT5,
			Usage: "MQTT 5 property: -D COMMAND NAME VALUE, or -D COMMAND user-property KEY VALUE; COMMAND is connect, publish, subscribe, unsubscribe, disconnect or will; repeatable; forces MQTT 5 (default: none)"},

		&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Category: catDiagnostics,
			Usage: "trace every packet sent and received on stderr (default: false)"},
		&cli.BoolFlag{Name: "quiet", Category: catDiagnostics,
			Usage: "do not print runtime errors; argument errors are still printed (default: false)"},
		&cli.StringFlag{Name: "o", Category: catDiagnostics,
			Usage: "read options from `FILE`: one \"-option value\" per line, # comments; the command line overrides them (default: $XDG_CONFIG_HOME/mqtool/" + cmd + ", else ~/.config/mqtool/" + cmd + ", if it exists)"},
	}
}

// connection is everything the shared flags describe.
type connection struct {
	Options client.Options
	// URLTopic is the topic from the path of -L, if any.
	URLTopic    string
	HasURLTopic bool
	Props       *propertySet
	Quiet       bool
	Debug       bool
}

// Disconnect sends c a DISCONNECT with reason rc (which MQTT 3.1.1 has
// not, so 0 there) and the -D disconnect properties, waiting at most five
// seconds.
func (cn *connection) Disconnect(c *client.Client, rc packet.ReasonCode) error {
	d := &packet.Disconnect{}
	if c.Version() == packet.V5 {
		d.ReasonCode = rc
		if cn.Props != nil {
			d.Props = cn.Props.Disconnect
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Disconnect(ctx, d)
}

// connectionOptions builds client.Options from the parsed flags, applying
// mosquitto's checks (errors are usagef(cmd, ...) so they exit 1 with the
// usage hint).
func connectionOptions(c *cli.Context, cmd string, s *format.Streams) (client.Options, error) {
	cn, err := parseConnection(c, cmd, s)
	if err != nil {
		return client.Options{}, err
	}
	return cn.Options, nil
}

// parseConnection reads the shared flags for command cmd.
func parseConnection(c *cli.Context, cmd string, s *format.Streams) (*connection, error) {
	cn := &connection{Quiet: c.Bool("quiet"), Debug: c.Bool("debug")}
	o := &cn.Options

	props, err := parseProperties(c.StringSlice("property"))
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	cn.Props = props

	o.Version = packet.V311
	if cmd == "rr" {
		o.Version = packet.V5
	}
	if c.IsSet("protocol-version") {
		switch c.String("protocol-version") {
		case "31", "mqttv31":
			o.Version = packet.V31
		case "311", "mqttv311":
			o.Version = packet.V311
		case "5", "mqttv5":
			o.Version = packet.V5
		default:
			return nil, usagef(cmd, "Invalid protocol version argument given.")
		}
	}
	if len(c.StringSlice("property")) > 0 {
		o.Version = packet.V5
	}

	expiry := int64(-1) // unset
	if c.IsSet("x") {
		v := c.String("x")
		if v == "∞" {
			expiry = math.MaxUint32
		} else {
			n, err := strconv.ParseInt(v, 0, 64)
			if err != nil {
				return nil, usagef(cmd, "session-expiry-interval not a number.")
			}
			if n > math.MaxUint32 || n < -1 {
				return nil, usagef(cmd, "session-expiry-interval out of range.")
			}
			if n == -1 {
				n = math.MaxUint32
			}
			expiry = n
		}
		o.Version = packet.V5
	}

	// Transport: -h/-p, then -L, then --unix.
	host := "localhost"
	if c.IsSet("host") {
		host = c.String("host")
	}
	port := -1
	if c.IsSet("port") {
		port = c.Int("port")
		if port < 0 || port > 65535 {
			return nil, usagef(cmd, "Invalid port given: %d", port)
		}
	}
	scheme := "mqtt"
	if c.Bool("ws") {
		scheme = "ws"
	}
	useOSCerts := c.Bool("tls-use-os-certs")
	username, usernameSet := c.String("username"), c.IsSet("username")
	password, passwordSet := c.String("pw"), c.IsSet("pw")
	if c.IsSet("url") {
		u, err := parseURL(c.String("url"))
		if err != nil {
			return nil, usagef(cmd, "%v", err)
		}
		host, scheme = u.host, u.scheme
		if u.port >= 0 {
			port = u.port
		} else if !c.IsSet("port") {
			port = -1
		}
		if scheme == "mqtts" || scheme == "wss" {
			useOSCerts = true
		}
		if u.userSet {
			username, usernameSet = u.user, true
		}
		if u.passSet {
			password, passwordSet = u.pass, true
		}
		if err := checkTopic(cmd, u.topic, "-L topic"); err != nil {
			return nil, err
		}
		cn.URLTopic, cn.HasURLTopic = u.topic, true
	}

	// TLS.
	noTLS := c.Bool("no-tls")
	certFile, keyFile := c.String("cert"), c.String("key")
	if (certFile != "") != (keyFile != "") {
		return nil, usagef(cmd, "Both certfile and keyfile must be provided if one of them is set.")
	}
	tlsWanted := !noTLS && (c.String("cafile") != "" || c.String("capath") != "" || useOSCerts ||
		port == 8883 || scheme == "mqtts" || scheme == "wss")
	if port < 0 {
		port = 1883
		if tlsWanted {
			port = 8883
		}
	}
	if tlsWanted {
		cfg, err := tlsConfig(c, host, useOSCerts)
		if err != nil {
			return nil, &ExitError{Code: 1, Err: err, Silent: cn.Quiet}
		}
		o.TLS = cfg
		switch scheme {
		case "mqtt":
			scheme = "mqtts"
		case "ws":
			scheme = "wss"
		}
	} else {
		switch scheme {
		case "mqtts":
			scheme = "mqtt"
		case "wss":
			scheme = "ws"
		}
	}
	hostport := net.JoinHostPort(host, strconv.Itoa(port))
	switch scheme {
	case "ws", "wss":
		o.URL = scheme + "://" + hostport + "/mqtt"
	default:
		o.URL = scheme + "://" + hostport
	}
	if c.IsSet("unix") {
		path := c.String("unix")
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		o.URL = "unix://" + path
		o.TLS = nil
	}
	o.BindAddress = c.String("A")
	o.NoDelay = c.Bool("nodelay")

	k := c.Int("keepalive")
	if k < 5 || k > 65535 {
		return nil, usagef(cmd, "Invalid keepalive given, it must be between 5 and 65535 inclusive.")
	}
	o.KeepAlive = uint16(k)
	m := c.Int("M")
	if m < 1 {
		return nil, usagef(cmd, "Maximum inflight messages must be greater than 0.")
	}
	o.MaxInflight = m

	// Identity and session.
	id, prefix := c.String("id"), c.String("id-prefix")
	if c.IsSet("id") && c.IsSet("id-prefix") {
		return nil, usagef(cmd, "-i and -I argument cannot be used together.")
	}
	o.ClientID = id
	if c.IsSet("id-prefix") {
		o.ClientID = fmt.Sprintf("%s%d", prefix, os.Getpid())
	}
	if o.ClientID == "" && o.Version == packet.V31 {
		// MQTT 3.1 has no server-assigned identifiers: the client ID must be
		// 1-23 characters [MQTT 3.1 section 3.1].
		var r [8]byte
		_, _ = rand.Read(r[:])
		o.ClientID = "mqtool-" + hex.EncodeToString(r[:])
	}
	o.CleanStart = !c.Bool("disable-clean-session")
	noID := c.IsSet("id-prefix") || !c.IsSet("id")
	o.ConnectProps = props.Connect
	if o.Version == packet.V5 {
		if !o.CleanStart && expiry == -1 {
			expiry = math.MaxUint32
		}
		if expiry > 0 {
			if expiry == math.MaxUint32 && noID {
				return nil, usagef(cmd, "You must provide a client id if you are using an infinite session expiry interval.")
			}
			if err := o.ConnectProps.SetUint(packet.PropSessionExpiry, uint64(expiry)); err != nil {
				return nil, usagef(cmd, "%v", err)
			}
		}
	} else if !o.CleanStart && noID {
		return nil, usagef(cmd, "You must provide a client id if you are using the -c option.")
	}

	// Will.
	willTopic := c.String("will-topic")
	if c.IsSet("will-topic") {
		if packet.CheckUTF8(willTopic) != nil {
			return nil, usagef(cmd, "Malformed UTF-8 in --will-topic argument.")
		}
		if strings.ContainsAny(willTopic, "+#") || packet.ValidTopicName(willTopic) != nil {
			return nil, usagef(cmd, "Invalid will topic '%s', does it contain '+' or '#'?", willTopic)
		}
	}
	if c.IsSet("will-payload") && !c.IsSet("will-topic") {
		return nil, usagef(cmd, "Will payload given, but no will topic given.")
	}
	if c.Bool("will-retain") && !c.IsSet("will-topic") {
		return nil, usagef(cmd, "Will retain given, but no will topic given.")
	}
	wq := c.Int("will-qos")
	if wq < 0 || wq > 2 {
		return nil, usagef(cmd, "Invalid will QoS %d.", wq)
	}
	if c.IsSet("will-topic") {
		o.Will = &packet.Will{
			Topic:   willTopic,
			Payload: []byte(c.String("will-payload")),
			QoS:     packet.QoS(wq),
			Retain:  c.Bool("will-retain"),
			Props:   props.Will,
		}
	}

	// Credentials.
	sources := 0
	for _, n := range []string{"pw-file", "pw-prompt"} {
		if c.IsSet(n) {
			sources++
		}
	}
	if c.IsSet("pw") {
		sources++
	}
	if sources > 1 {
		return nil, usagef(cmd, "Only one of -P, --pw-file and --pw-prompt may be given.")
	}
	switch {
	case c.IsSet("pw-file"):
		p, err := readPasswordFile(c.String("pw-file"))
		if err != nil {
			return nil, &ExitError{Code: 1, Err: err, Silent: cn.Quiet}
		}
		password, passwordSet = p, true
	case c.Bool("pw-prompt"):
		p, err := promptPassword(c.Context, s)
		if errors.Is(err, errInterrupted) {
			return nil, interrupted()
		}
		if err != nil {
			return nil, &ExitError{Code: 1, Err: err, Silent: cn.Quiet}
		}
		password, passwordSet = p, true
	case !passwordSet && usernameSet:
		if p, ok := os.LookupEnv(passwordEnv); ok {
			password, passwordSet = p, true
		}
	}
	if passwordSet && !usernameSet && o.Version != packet.V5 {
		return nil, &ExitError{Code: 1, Err: errors.New("Problem setting username and/or password."), Silent: cn.Quiet}
	}
	o.Username, o.UsernameSet = username, usernameSet
	o.Password, o.PasswordSet = []byte(password), passwordSet

	if cn.Debug {
		o.Trace = packetTracer(s.Err, o.ClientID)
	}
	return cn, nil
}

// checkTopic validates a topic given to cmd with mosquitto's messages:
// a topic name for pub and rr, a filter for sub.
func checkTopic(cmd, topic, arg string) error {
	if packet.CheckUTF8(topic) != nil {
		return usagef(cmd, "Malformed UTF-8 in %s argument.", arg)
	}
	switch cmd {
	case "sub":
		if packet.ValidTopicFilter(topic) != nil {
			return usagef(cmd, "Invalid subscription topic '%s', are all '+' and '#' wildcards correct?", topic)
		}
	case "pub", "rr":
		if packet.ValidTopicName(topic) != nil {
			return usagef(cmd, "Invalid publish topic '%s', does it contain '+' or '#'?", topic)
		}
	}
	return nil
}

type brokerURL struct {
	scheme, host string
	port         int // -1 when absent
	user, pass   string
	userSet      bool
	passSet      bool
	topic        string
}

// parseURL parses -L as mosquitto does: scheme://[user[:pass]@]host[:port]/topic,
// where everything after the first / is the topic.
func parseURL(s string) (*brokerURL, error) {
	u := &brokerURL{port: -1}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, errors.New("Unsupported URL scheme.")
	}
	u.scheme = strings.ToLower(scheme)
	switch u.scheme {
	case "mqtt", "mqtts", "ws", "wss":
	default:
		return nil, errors.New("Unsupported URL scheme.")
	}
	authority, topic, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, errors.New("Invalid URL for -L argument specified - topic missing.")
	}
	u.topic = topic
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		u.user, u.userSet = unescape(user), true
		if hasPass {
			u.pass, u.passSet = unescape(pass), true
		}
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return nil, errors.New("Invalid URL for -L argument specified - bad IPv6 address.")
		}
		host = authority[1:end]
		port = strings.TrimPrefix(authority[end+1:], ":")
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
	}
	if host == "" {
		return nil, errors.New("Invalid URL for -L argument specified - host missing.")
	}
	u.host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("Invalid port given: %s", port)
		}
		u.port = n
	}
	return u, nil
}

func unescape(s string) string {
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

// tlsConfig builds the TLS configuration from the TLS flags.
func tlsConfig(c *cli.Context, host string, useOSCerts bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: c.Bool("insecure")}
	cafile, capath := c.String("cafile"), c.String("capath")
	if cafile != "" || capath != "" {
		pool := x509.NewCertPool()
		if useOSCerts {
			if sys, err := x509.SystemCertPool(); err == nil {
				pool = sys
			}
		}
		if cafile != "" {
			pem, err := os.ReadFile(cafile)
			if err != nil {
				return nil, fmt.Errorf("Problem setting TLS options: File not found (%v).", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("Problem setting TLS options: no PEM certificate in %s.", cafile)
			}
		}
		if capath != "" {
			entries, err := os.ReadDir(capath)
			if err != nil {
				return nil, fmt.Errorf("Problem setting TLS options: File not found (%v).", err)
			}
			for _, e := range entries {
				name := e.Name()
				if e.IsDir() || !(strings.HasSuffix(name, ".crt") || strings.HasSuffix(name, ".pem")) {
					continue
				}
				if pem, err := os.ReadFile(filepath.Join(capath, name)); err == nil {
					pool.AppendCertsFromPEM(pem)
				}
			}
		}
		cfg.RootCAs = pool
	}
	if cert := c.String("cert"); cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, c.String("key"))
		if err != nil {
			return nil, fmt.Errorf("Problem setting TLS options: %v.", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	switch v := c.String("tls-version"); v {
	case "":
		cfg.MinVersion = tls.VersionTLS12
	case "tlsv1.3":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	case "tlsv1.2":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	default:
		return nil, errors.New("Problem setting TLS options, check the options are valid.")
	}
	if alpn := c.String("tls-alpn"); alpn != "" {
		cfg.NextProtos = []string{alpn}
	}
	return cfg, nil
}

// readPasswordFile returns the first line of the file at path.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("Unable to read password file: %v.", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// promptPassword asks for the password on the terminal without echo, or
// reads one line from stdin when it is not a terminal. An interrupt ends
// the wait (and restores the terminal).
func promptPassword(ctx context.Context, s *format.Streams) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	restore := func() {}
	if f, ok := s.In.(*os.File); ok && s.InTTY {
		fd := int(f.Fd())
		if state, err := term.GetState(fd); err == nil {
			restore = func() { _ = term.Restore(fd, state) }
		}
		fmt.Fprint(s.Err, "Password: ")
		go func() {
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(s.Err)
			ch <- result{string(b), err}
		}()
	} else {
		go func() {
			line, err := readLine(s.In)
			ch <- result{line, err}
		}()
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return "", fmt.Errorf("Unable to read password: %v.", r.err)
		}
		return r.line, nil
	case <-ctx.Done():
		restore()
		return "", errInterrupted
	}
}

// readLine reads one line from r a byte at a time, so that nothing after
// the line is consumed (pub -l and -s read the rest).
func readLine(r io.Reader) (string, error) {
	var b []byte
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err == io.EOF {
			if len(b) == 0 {
				return "", io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimRight(string(b), "\r"), nil
}

// packetTracer returns a client.Options.Trace that logs packets to w in
// the style of mosquitto's -d output.
func packetTracer(w io.Writer, id string) func(sent bool, p packet.Packet) {
	var mu sync.Mutex
	bw := bufio.NewWriter(w)
	return func(sent bool, p packet.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if cp, ok := p.(*packet.Connack); ok && cp.Props.AssignedClientID != "" {
			id = cp.Props.AssignedClientID
		}
		dir := "received"
		if sent {
			dir = "sending"
		}
		fmt.Fprintf(bw, "Client %s %s %s%s\n", clientName(id), dir, p.Type(), traceDetail(sent, p))
		bw.Flush()
	}
}

func clientName(id string) string {
	if id == "" {
		return "(null)"
	}
	return id
}

func traceDetail(sent bool, p packet.Packet) string {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch p := p.(type) {
	case *packet.Connack:
		return fmt.Sprintf(" (%d)", byte(p.ReasonCode))
	case *packet.Publish:
		topic := p.Topic
		if topic == "" {
			topic = "(null)" // sent as a topic alias only, as mosquitto prints it
		}
		return fmt.Sprintf(" (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
			b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, topic, len(p.Payload))
	case *packet.Puback:
		return fmt.Sprintf(" (Mid: %d, RC:%d)", p.PacketID, byte(p.ReasonCode))
	case *packet.Pubrec:
		return fmt.Sprintf(" (Mid: %d)", p.PacketID)
	case *packet.Pubrel:
		return fmt.Sprintf(" (Mid: %d)", p.PacketID)
	case *packet.Pubcomp:
		return fmt.Sprintf(" (Mid: %d)", p.PacketID)
	case *packet.Subscribe:
		var parts []string
		for _, s := range p.Subscriptions {
			opts := byte(s.QoS) | byte(s.RetainHandling)<<4
			if s.NoLocal {
				opts |= 0x04
			}
			if s.RetainAsPublished {
				opts |= 0x08
			}
			parts = append(parts, fmt.Sprintf("Topic: %s, QoS: %d, Options: 0x%02x", s.Filter, s.QoS, opts))
		}
		return fmt.Sprintf(" (Mid: %d, %s)", p.PacketID, strings.Join(parts, ", "))
	case *packet.Suback:
		return fmt.Sprintf(" (Mid: %d)", p.PacketID)
	case *packet.Unsubscribe:
		return fmt.Sprintf(" (Mid: %d, Topic: %s)", p.PacketID, strings.Join(p.Filters, ", "))
	case *packet.Unsuback:
		return fmt.Sprintf(" (Mid: %d)", p.PacketID)
	case *packet.Disconnect:
		if p.ReasonCode != 0 {
			return fmt.Sprintf(" (%d)", byte(p.ReasonCode))
		}
	}
	return ""
}
