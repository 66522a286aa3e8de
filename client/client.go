package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqtool/mqtool/internal/hrtimer"
	"github.com/mqtool/mqtool/packet"
)

// Options configures Dial.
type Options struct {
	URL            string         // mqtt://host:port, mqtts://, ws://host:port/path, wss://, unix:///path
	Version        packet.Version // default V311
	ClientID       string
	CleanStart     bool
	KeepAlive      uint16 // seconds; 0 disables pings
	Username       string
	UsernameSet    bool // send the user name flag even when Username is ""
	Password       []byte
	PasswordSet    bool
	Will           *packet.Will
	ConnectProps   packet.Properties // v5 CONNECT properties (session expiry, receive max, ...)
	TLS            *tls.Config       // for mqtts/wss
	BindAddress    string            // -A: local address to bind
	NoDelay        bool              // TCP_NODELAY (Go sets it by default; false leaves the default)
	MaxInflight    int               // outbound QoS 1/2 window; 0 = 20; capped by the server's Receive Maximum
	ConnectTimeout time.Duration     // default 10s
	// Trace is called for every packet sent and received (-d). It must not
	// retain p, which the client may reuse.
	Trace func(sent bool, p packet.Packet)
	// OnMessage is called in order from the read goroutine; the QoS 1/2
	// acknowledgement is sent after it returns. It must not wait for the
	// completion of a QoS 1/2 Publish, Subscribe or Unsubscribe on the same
	// client, which needs the read goroutine.
	OnMessage func(p *packet.Publish)
	// OnDisconnect is called when the server sends DISCONNECT (v5).
	OnDisconnect func(p *packet.Disconnect)
	// Authenticate answers the server in MQTT 5 enhanced authentication
	// (section 4.12), which ConnectProps starts with an Authentication
	// Method and, usually, Authentication Data. It is called with each AUTH
	// of reason 0x18 Continue authentication the server sends: during Dial
	// before CONNACK (ctx is Dial's), and during Reauthenticate on the read
	// goroutine (ctx ends with the connection), where it holds up every
	// other incoming packet while it runs. It returns the AUTH to answer
	// with, usually just Props.AuthData set; the client sends it with
	// reason 0x18 [MQTT-4.12.0-3] and the CONNECT's Authentication Method
	// [MQTT-4.12.0-5], whatever reply says. An error ends the connection
	// with DISCONNECT: the reason code the error wraps if DISCONNECT allows
	// it, else 0x80 Unspecified error. The server's last Authentication Data
	// comes with CONNACK (Connack) or with the AUTH that Reauthenticate
	// returns.
	Authenticate func(ctx context.Context, a *packet.Auth) (reply *packet.Auth, err error)
	// Dialer, when set, replaces URL dialing (tests, fault injection).
	Dialer func(ctx context.Context) (net.Conn, error)
	// ReadInterval, if set, spaces reads from the server while packets
	// keep arriving sooner than that: after a read that found data within
	// the interval, the next waits for the next multiple of the interval on
	// the clock (shared by every client in the process), so one read and
	// one wake-up take in what arrived meanwhile instead of one per packet,
	// and the acknowledgements due go out in one write. A packet may wait
	// up to the interval longer. For load generators (bench --tick); 0
	// reads as soon as data arrives.
	ReadInterval time.Duration
}

// DefaultMaxInflight is the outbound QoS 1/2 window when Options.MaxInflight is 0.
const DefaultMaxInflight = 20

// maxQueued is how many bytes may wait for the writer before senders block.
const maxQueued = 256 << 10

// ErrClosed is returned by operations on a client that was closed by Close
// or Disconnect.
var ErrClosed = errors.New("client: connection closed")

// ConnectError is returned by Dial when the server refuses the connection.
type ConnectError struct {
	Connack *packet.Connack
	Version packet.Version
}

// Error returns e.g. "client: connection refused: not authorized".
func (e *ConnectError) Error() string {
	msg := "client: connection refused: " + e.Connack.ReasonCode.String()
	if e.Connack.Props.ReasonString != "" {
		msg += " (" + e.Connack.Props.ReasonString + ")"
	}
	return msg
}

// Unwrap returns the CONNACK reason code.
func (e *ConnectError) Unwrap() error { return e.Connack.ReasonCode }

// Code returns the exit code mosquitto's clients use for the refusal: the
// return code at 3.1.x (1 to 5), the reason code at 5.
func (e *ConnectError) Code() int {
	if e.Version == packet.V5 {
		return int(e.Connack.ReasonCode)
	}
	return int(e.Connack.ReasonCode.ConnackV3())
}

// Client is one MQTT connection. Its methods are safe for concurrent use.
type Client struct {
	conn      net.Conn
	pr        pacedReader // reads conn for br
	br        *bufio.Reader
	version   packet.Version
	connack   *packet.Connack
	clientID  string
	keepAlive time.Duration
	maxPacket int // the server's Maximum Packet Size; 0: no limit
	maxQoS    packet.QoS
	noRetain  bool
	aliasMax  uint16 // the server's Topic Alias Maximum
	ourAlias  uint16 // our Topic Alias Maximum
	readMax   int    // our Maximum Packet Size
	recvMax   int    // our Receive Maximum: unacknowledged inbound QoS 1/2 PUBLISH packets allowed
	onMessage func(*packet.Publish)
	onDisc    func(*packet.Disconnect)
	trace     func(bool, packet.Packet)

	authMethod   string // the Authentication Method of CONNECT; "" without enhanced authentication
	authenticate func(context.Context, *packet.Auth) (*packet.Auth, error)
	reauthMu     sync.Mutex
	reauth       chan *packet.Auth // cap 1; receives the server's AUTH Success; nil when no re-authentication is in progress

	window *window // outbound QoS 1/2 publishes in flight

	mu      sync.Mutex // guards ops, nextID, closed
	ops     map[uint16]*op
	nextID  uint16
	closed  bool
	opsPool sync.Pool

	w writer

	pingSent atomic.Int64 // unix nanoseconds of an unanswered PINGREQ, 0 if none

	// Owned by the read goroutine.
	aliasIn map[uint16]string
	qos2In  map[uint16]struct{}
	ack     struct {
		puback  packet.Puback
		pubrec  packet.Pubrec
		pubrel  packet.Pubrel
		pubcomp packet.Pubcomp
	}

	closing       atomic.Bool                       // Disconnect or Close called: drop further messages
	disconnecting atomic.Bool                       // DISCONNECT queued: the server closing is expected
	readerID      atomic.Uint64                     // goroutine id of the read goroutine
	pendingDisc   atomic.Pointer[packet.Disconnect] // Disconnect called from a callback
	stopOnce      sync.Once
	stop          chan struct{} // closed when the connection is being torn down
	errMu         sync.Mutex
	err           error
	wg            sync.WaitGroup // writer and keep-alive goroutines
	done          chan struct{}  // closed when every goroutine has ended
}

// Dial connects to the server named by opts.URL (or through opts.Dialer),
// sends CONNECT and waits for CONNACK. A refusal returns *ConnectError.
// ctx bounds the whole handshake, as does opts.ConnectTimeout.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Version == 0 {
		opts.Version = packet.V311
	}
	switch opts.Version {
	case packet.V31, packet.V311, packet.V5:
	default:
		return nil, fmt.Errorf("client: unsupported protocol version %d", opts.Version)
	}
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var conn net.Conn
	var err error
	if opts.Dialer != nil {
		conn, err = opts.Dialer(ctx)
	} else {
		conn, err = dialURL(ctx, &opts)
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "client: ") {
			return nil, err
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("client: connect: %w: %w", ctx.Err(), err)
		}
		return nil, fmt.Errorf("client: connect: %w", err)
	}
	c, err := handshake(ctx, conn, &opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.start()
	return c, nil
}

// handshake sends CONNECT on conn and reads CONNACK, both bounded by ctx.
func handshake(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	// The deadline comes first: set after the AfterFunc, it could undo a
	// cancellation that ran in between.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stopAfter := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stopAfter()
	wrap := func(what string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("client: %s: %w", what, ctx.Err())
		}
		if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
			return fmt.Errorf("client: %s: %w", what, context.DeadlineExceeded)
		}
		return fmt.Errorf("client: %s: %w", what, err)
	}

	c := &Client{
		conn:         conn,
		pr:           pacedReader{r: conn},
		version:      opts.Version,
		clientID:     opts.ClientID,
		keepAlive:    time.Duration(opts.KeepAlive) * time.Second,
		maxQoS:       packet.ExactlyOnce,
		recvMax:      65535, // the default when CONNECT leaves it out (section 3.1.2.11.3)
		onMessage:    opts.OnMessage,
		onDisc:       opts.OnDisconnect,
		trace:        opts.Trace,
		authenticate: opts.Authenticate,
		ops:          make(map[uint16]*op),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	c.br = bufio.NewReaderSize(&c.pr, 32<<10)

	cp := &packet.Connect{
		Version:      opts.Version,
		CleanStart:   opts.CleanStart,
		KeepAlive:    opts.KeepAlive,
		ClientID:     opts.ClientID,
		UsernameFlag: opts.UsernameSet || opts.Username != "",
		Username:     opts.Username,
		PasswordFlag: opts.PasswordSet || len(opts.Password) > 0,
		Password:     opts.Password,
		Will:         opts.Will,
	}
	if opts.Version == packet.V5 {
		pr := &opts.ConnectProps
		cp.Props = *pr
		c.ourAlias = pr.TopicAliasMaximum
		if pr.Has(packet.PropMaximumPacketSize) {
			c.readMax = int(pr.MaximumPacketSize)
		}
		if pr.Has(packet.PropReceiveMaximum) && pr.ReceiveMaximum > 0 {
			c.recvMax = int(pr.ReceiveMaximum)
		}
		if pr.Has(packet.PropAuthMethod) {
			c.authMethod = pr.AuthMethod
		}
	}
	if err := c.writeDirect(cp, wrap); err != nil {
		return nil, err
	}

	var ca *packet.Connack
	for ca == nil {
		p, err := packet.Read(c.br, c.version, c.readMax)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by server before CONNACK")
			}
			return nil, wrap("read CONNACK", err)
		}
		if c.trace != nil {
			c.trace(false, p)
		}
		switch p := p.(type) {
		case *packet.Connack:
			ca = p
		case *packet.Auth:
			reply, rc, err := c.connectAuth(ctx, p)
			if err != nil {
				c.writeDirect(&packet.Disconnect{ReasonCode: rc}, wrap)
				return nil, err
			}
			if err := c.writeDirect(reply, wrap); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("client: expected CONNACK, got %s: %w", p.Type(), packet.ProtocolError)
		}
	}
	if ca.ReasonCode != packet.Success {
		return nil, &ConnectError{Connack: ca, Version: c.version}
	}
	if err := c.checkConnackAuth(ca); err != nil {
		c.writeDirect(&packet.Disconnect{ReasonCode: packet.ProtocolError}, wrap)
		return nil, err
	}
	if opts.CleanStart && ca.SessionPresent {
		// The server must not claim a session after Clean Start
		// [MQTT-3.2.2-2]; a client without one closes [MQTT-3.2.2-4].
		if c.version == packet.V5 {
			c.writeDirect(&packet.Disconnect{ReasonCode: packet.ProtocolError}, wrap)
		}
		return nil, fmt.Errorf("client: CONNACK has Session Present after Clean Start: %w", packet.ProtocolError)
	}
	if !stopAfter() {
		return nil, wrap("read CONNACK", ctx.Err()) // ctx ended just now
	}
	c.connack = ca
	c.pr.interval = max(opts.ReadInterval, 0)
	conn.SetDeadline(time.Time{})

	inflight := opts.MaxInflight
	if inflight <= 0 {
		inflight = DefaultMaxInflight
	}
	if c.version == packet.V5 {
		pr := &ca.Props
		if pr.Has(packet.PropReceiveMaximum) && int(pr.ReceiveMaximum) < inflight {
			inflight = int(pr.ReceiveMaximum) // [MQTT-3.3.4-7]
		}
		if pr.Has(packet.PropMaximumQoS) {
			c.maxQoS = packet.QoS(pr.MaximumQoS)
		}
		if pr.Has(packet.PropRetainAvailable) && pr.RetainAvailable == 0 {
			c.noRetain = true
		}
		if pr.Has(packet.PropMaximumPacketSize) {
			c.maxPacket = int(pr.MaximumPacketSize)
		}
		c.aliasMax = pr.TopicAliasMaximum
		if pr.Has(packet.PropServerKeepAlive) {
			c.keepAlive = time.Duration(pr.ServerKeepAlive) * time.Second // [MQTT-3.2.2-21]
		}
		if pr.Has(packet.PropAssignedClientID) {
			c.clientID = pr.AssignedClientID
		}
	}
	if inflight > 65535 {
		inflight = 65535
	}
	c.window = newWindow(inflight)
	return c, nil
}

// writeDirect writes p straight to the connection during the handshake,
// before the writer goroutine runs; wrap explains a failed write.
func (c *Client) writeDirect(p packet.Packet, wrap func(what string, err error) error) error {
	buf, err := packet.Append(nil, p, c.version)
	if err != nil {
		return fmt.Errorf("client: encode %s: %w", p.Type(), err)
	}
	if c.trace != nil {
		c.trace(true, p)
	}
	if _, err := c.conn.Write(buf); err != nil {
		return wrap("send "+p.Type().String(), err)
	}
	return nil
}

func (c *Client) start() {
	c.w.init()
	c.wg.Add(1)
	go c.writeLoop()
	if c.keepAlive > 0 {
		c.wg.Add(1)
		go c.keepAliveLoop()
	}
	if c.pr.interval > 0 {
		// A nil timer (no timerfd) sleeps with time.Sleep.
		c.pr.timer, _ = hrtimer.New()
	}
	go c.readLoop()
}

// Connack returns the server's CONNACK.
func (c *Client) Connack() *packet.Connack { return c.connack }

// Version returns the protocol level in use.
func (c *Client) Version() packet.Version { return c.version }

// ClientID returns the client identifier: the one the server assigned
// (v5), else the one sent in CONNECT.
func (c *Client) ClientID() string { return c.clientID }

// KeepAlive returns the keep-alive interval in use, the server's when it
// sent Server Keep Alive.
func (c *Client) KeepAlive() time.Duration { return c.keepAlive }

// MaxInflight returns the outbound QoS 1/2 window in use.
func (c *Client) MaxInflight() int { return c.window.max }

// Done returns a channel closed when the connection is gone. An operation
// that fails because the connection ended finds Done already closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended: nil while it is up and after
// Disconnect or Close, else the cause.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Close closes the connection without DISCONNECT, so the server publishes
// the will; packets still queued are dropped. It returns once Done is
// closed (at once when called from a callback).
func (c *Client) Close() error {
	c.closing.Store(true)
	c.shutdown(nil)
	c.waitDone()
	return nil
}

// waitDone waits for the read goroutine to finish, unless we are running
// on it (in a callback), where waiting would never end.
func (c *Client) waitDone() {
	if !c.onReader() {
		<-c.done
	}
}

// onReader reports whether the caller runs on the read goroutine, that is
// in a callback. Only Close and Disconnect ask, so the cost of finding the
// goroutine id does not matter.
func (c *Client) onReader() bool {
	return goroutineID() == c.readerID.Load()
}

// goroutineID returns the current goroutine's id from its stack header,
// "goroutine 123 [running]:".
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// Disconnect sends DISCONNECT (d nil: normal disconnection), waits until it
// is written, and closes the connection [MQTT-3.14.4-1]. The reason code and
// properties of d are sent at v5 only. Called from a callback (OnMessage,
// a PublishAsync done), it returns at once and the DISCONNECT follows the
// acknowledgement of the message being handled; Done tells when it is over.
func (c *Client) Disconnect(ctx context.Context, d *packet.Disconnect) error {
	if d == nil {
		d = &packet.Disconnect{}
	}
	c.closing.Store(true)
	if c.onReader() {
		// On the read goroutine: finish after the callback, once the
		// message's acknowledgement is queued.
		c.pendingDisc.CompareAndSwap(nil, d)
		return nil
	}
	c.disconnecting.Store(true)
	err := c.sendLast(ctx, d)
	if err == nil {
		err = c.waitFlushed(ctx)
	}
	if err == nil {
		c.halfClose(ctx)
	}
	c.shutdown(nil)
	c.waitDone()
	if err != nil {
		if errors.Is(err, ErrClosed) {
			if cause := c.Err(); cause != nil {
				return fmt.Errorf("client: disconnect: %w", cause)
			}
		}
		return fmt.Errorf("client: disconnect: %w", err)
	}
	return nil
}

// halfClose shuts the write side of a TCP or unix connection and waits
// briefly for the server to close its side, so that unread data on our side
// cannot turn the close into a reset that loses the DISCONNECT.
func (c *Client) halfClose(ctx context.Context) {
	cw, ok := c.conn.(interface{ CloseWrite() error })
	if !ok {
		return
	}
	if _, isTLS := c.conn.(*tls.Conn); isTLS {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.stop:
	case <-t.C:
	case <-ctx.Done():
	}
}

// shutdown records why the connection ends (the first cause wins; nil for
// a close we asked for) and tears it down. The read goroutine then finishes
// the pending operations and closes done.
func (c *Client) shutdown(cause error) {
	c.stopOnce.Do(func() {
		c.errMu.Lock()
		c.err = cause
		c.errMu.Unlock()
		c.w.mu.Lock()
		c.w.closed = true
		c.w.mu.Unlock()
		close(c.stop)
		c.conn.Close()
	})
}

// ended waits until Done is closed (unless called from a callback) and
// returns why the connection ended, so that a caller that gets this error
// finds Done closed.
func (c *Client) ended() error {
	c.waitDone()
	return c.closedErr()
}

// closedErr is what operations return once the connection is gone.
func (c *Client) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

func (c *Client) keepAliveLoop() {
	defer c.wg.Done()
	ka := c.keepAlive
	t := time.NewTimer(ka)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		now := time.Now().UnixNano()
		if sent := c.pingSent.Load(); sent != 0 {
			if wait := sent + int64(ka) - now; wait > 0 {
				t.Reset(time.Duration(wait))
				continue
			}
			c.shutdown(fmt.Errorf("client: no PINGRESP within keep alive of %s", ka))
			return
		}
		last := c.w.lastWrite.Load()
		if wait := last + int64(ka) - now; wait > 0 {
			t.Reset(time.Duration(wait))
			continue
		}
		c.pingSent.Store(now)
		if err := c.sendUrgent(context.Background(), &packet.Pingreq{}); err != nil {
			return
		}
		t.Reset(ka)
	}
}

func (c *Client) readLoop() {
	c.readerID.Store(goroutineID())
	var cause error
	corked := false
	for {
		p, err := packet.Read(c.br, c.version, c.readMax)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				cause = errors.New("client: connection closed by server")
			default:
				var rc packet.ReasonCode
				if errors.As(err, &rc) && c.version == packet.V5 {
					c.protocolDisconnect(rc)
				}
				cause = fmt.Errorf("client: read: %w", err)
			}
			break
		}
		if c.trace != nil {
			c.trace(false, p)
		}
		if !corked && c.packetBuffered() {
			corked = true
			c.w.cork()
		}
		if cause = c.handle(p); cause != nil {
			break
		}
		if corked && !c.packetBuffered() {
			corked = false
			c.w.uncork()
		}
		if d := c.pendingDisc.Load(); d != nil && !c.disconnecting.Load() {
			c.disconnecting.Store(true)
			if c.sendLast(context.Background(), d) != nil {
				break
			}
			// Read on until the server closes, for at most a second.
			c.conn.SetReadDeadline(time.Now().Add(time.Second))
		}
	}
	if c.disconnecting.Load() {
		cause = nil
	}
	c.shutdown(cause)
	c.pr.timer.Close()
	c.wg.Wait()
	// Done is closed before pending operations fail, so whoever sees such
	// a failure finds Done closed.
	ops := c.takeOps()
	close(c.done)
	c.failOps(ops)
}

// packetBuffered reports whether a whole packet waits in the read buffer,
// so that reading it will not block.
func (c *Client) packetBuffered() bool {
	n := c.br.Buffered()
	if n < 2 {
		return false
	}
	b, _ := c.br.Peek(n)
	remaining, mul := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		remaining += int(b[i]&0x7F) * mul
		if b[i]&0x80 == 0 {
			return 1+i+remaining <= n
		}
		mul <<= 7
	}
	return false
}

// protocolDisconnect tells a v5 server why we are closing, best effort.
func (c *Client) protocolDisconnect(rc packet.ReasonCode) {
	if c.version != packet.V5 {
		return
	}
	select {
	case <-c.stop:
		return
	default:
	}
	if c.sendLast(context.Background(), &packet.Disconnect{ReasonCode: rc}) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.waitFlushed(ctx)
		cancel()
	}
}

// handle processes one packet from the server; an error ends the connection.
func (c *Client) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Pubrel:
		_, known := c.qos2In[p.PacketID]
		delete(c.qos2In, p.PacketID)
		a := &c.ack.pubcomp
		a.PacketID = p.PacketID
		a.ReasonCode = packet.Success
		if !known && c.version == packet.V5 {
			a.ReasonCode = packet.PacketIdentifierNotFound
		}
		return c.sendAck(a)
	case *packet.Puback:
		c.complete(p.PacketID, packet.PUBACK, p, p.ReasonCode)
	case *packet.Pubrec:
		rc, ok := c.pubrec(p)
		if !ok {
			return nil
		}
		a := &c.ack.pubrel
		a.PacketID = p.PacketID
		a.ReasonCode = rc
		return c.sendAck(a)
	case *packet.Pubcomp:
		c.complete(p.PacketID, packet.PUBCOMP, p, p.ReasonCode)
	case *packet.Suback:
		c.complete(p.PacketID, packet.SUBACK, p, packet.Success)
	case *packet.Unsuback:
		c.complete(p.PacketID, packet.UNSUBACK, p, packet.Success)
	case *packet.Pingresp:
		c.pingSent.Store(0)
	case *packet.Auth:
		return c.handleAuth(p)
	case *packet.Disconnect:
		if c.onDisc != nil {
			c.onDisc(p)
		}
		msg := "client: server sent DISCONNECT"
		if p.Props.ReasonString != "" {
			msg += " (" + p.Props.ReasonString + ")"
		}
		return fmt.Errorf("%s: %w", msg, p.ReasonCode)
	default:
		c.protocolDisconnect(packet.ProtocolError)
		return fmt.Errorf("client: unexpected %s from server: %w", p.Type(), packet.ProtocolError)
	}
	return nil
}

func (c *Client) handlePublish(p *packet.Publish) error {
	if c.version == packet.V5 && p.Props.Has(packet.PropTopicAlias) {
		alias := p.Props.TopicAlias
		if alias == 0 || alias > c.ourAlias { // [MQTT-3.3.2-9] [MQTT-3.3.2-10]
			c.protocolDisconnect(packet.TopicAliasInvalid)
			return fmt.Errorf("client: server sent topic alias %d, maximum %d: %w", alias, c.ourAlias, packet.TopicAliasInvalid)
		}
		if p.Topic != "" {
			if c.aliasIn == nil {
				c.aliasIn = make(map[uint16]string)
			}
			c.aliasIn[alias] = p.Topic
		} else {
			t, ok := c.aliasIn[alias]
			if !ok {
				c.protocolDisconnect(packet.ProtocolError)
				return fmt.Errorf("client: server sent unknown topic alias %d: %w", alias, packet.ProtocolError)
			}
			p.Topic = t
		}
	} else if p.Topic == "" {
		c.protocolDisconnect(packet.ProtocolError)
		return fmt.Errorf("client: server sent PUBLISH without topic: %w", packet.ProtocolError)
	}
	if c.overReceiveMax(p) {
		c.protocolDisconnect(packet.ReceiveMaximumExceeded)
		return fmt.Errorf("client: server sent more than Receive Maximum %d unacknowledged QoS 1 and 2 PUBLISH packets: %w",
			c.recvMax, packet.ReceiveMaximumExceeded)
	}
	switch p.QoS {
	case packet.AtMostOnce:
		c.deliver(p)
	case packet.AtLeastOnce:
		c.deliver(p)
		a := &c.ack.puback
		a.PacketID = p.PacketID
		return c.sendAck(a)
	case packet.ExactlyOnce:
		// Deliver once; a resend before PUBREL only gets PUBREC again [MQTT-4.3.3-10].
		if c.qos2In == nil {
			c.qos2In = make(map[uint16]struct{})
		}
		if _, seen := c.qos2In[p.PacketID]; !seen {
			c.qos2In[p.PacketID] = struct{}{}
			c.deliver(p)
		}
		a := &c.ack.pubrec
		a.PacketID = p.PacketID
		return c.sendAck(a)
	}
	return nil
}

// overReceiveMax reports whether the QoS 1 or 2 PUBLISH p takes the
// unacknowledged inbound publishes over our Receive Maximum, which the
// server must not do [MQTT-3.3.4-9]; the client then disconnects with
// 0x93 Receive Maximum exceeded (sections 3.3.4 and 4.9). A QoS 1 PUBLISH
// counts until its PUBACK is queued, a QoS 2 one until its PUBCOMP is. The
// read goroutine queues a PUBACK before it reads the next packet, so only
// QoS 2 flows, held in qos2In until PUBREL, add up. Counting to the
// queueing rather than to the write errs towards the server: it cannot
// have had an acknowledgement that is not queued yet. mosquitto 2.0.11 as a
// broker sends the next QoS 2 PUBLISH once it has PUBREC, so a client with
// a small Receive Maximum that gets a burst of QoS 2 ends with 0x93, as
// mosquitto_sub -V 5 -q 2 -D connect receive-maximum 2 ends with a
// protocol error.
func (c *Client) overReceiveMax(p *packet.Publish) bool {
	if c.version != packet.V5 || p.QoS == packet.AtMostOnce {
		return false
	}
	if p.QoS == packet.ExactlyOnce {
		if _, seen := c.qos2In[p.PacketID]; seen {
			return false // a resend takes no more
		}
	}
	return len(c.qos2In)+1 > c.recvMax
}

func (c *Client) deliver(p *packet.Publish) {
	if c.onMessage != nil && !c.closing.Load() {
		c.onMessage(p)
	}
}

// sendAck queues an acknowledgement from the read goroutine. Failing to
// queue means the connection is already going down.
func (c *Client) sendAck(p packet.Packet) error {
	if err := c.send(context.Background(), p); err != nil {
		if c.disconnecting.Load() {
			return nil // keep reading until the server closes
		}
		if errors.Is(err, ErrClosed) {
			return c.closedErr()
		}
		return err
	}
	return nil
}

// appendPacket encodes p at the end of dst, for the writer: every packet
// sent after CONNACK passes here. It holds the packet to the server's
// Maximum Packet Size [MQTT-3.2.2-15]. An acknowledgement, DISCONNECT or
// AUTH over it is sent without its Reason String, then also without its
// User Properties, as the spec requires of the sender ([MQTT-3.4.2-2]
// [MQTT-3.4.2-3] for PUBACK, 3.5.2-2/-3 PUBREC, 3.6.2-2/-3 PUBREL, 3.7.2-2/-3
// PUBCOMP, 3.14.2-3/-4 DISCONNECT, 3.15.2-2/-3 AUTH); any other packet over
// it is an error wrapping packet.PacketTooLarge, and nothing is appended.
// It returns the packet as encoded, for Trace.
func (c *Client) appendPacket(dst []byte, p packet.Packet) ([]byte, packet.Packet, error) {
	start := len(dst)
	buf, err := packet.Append(dst, p, c.version)
	if err != nil {
		return dst, p, fmt.Errorf("client: encode %s: %w", p.Type(), err)
	}
	size := len(buf) - start
	if c.maxPacket == 0 || size <= c.maxPacket {
		return buf, p, nil
	}
	for _, dropUser := range []bool{false, true} {
		slim := withoutDiagnostics(p, dropUser)
		if slim == nil {
			continue
		}
		buf, err = packet.Append(buf[:start], slim, c.version)
		if err == nil && len(buf)-start <= c.maxPacket {
			return buf, slim, nil
		}
	}
	return buf[:start], p, fmt.Errorf("client: %s is %d bytes, over the server's Maximum Packet Size %d: %w",
		p.Type(), size, c.maxPacket, packet.PacketTooLarge)
}

// withoutDiagnostics returns a copy of p without its Reason String and, if
// dropUser, its User Properties, or nil if p is a kind whose properties may
// not be dropped or has none of these to drop.
func withoutDiagnostics(p packet.Packet, dropUser bool) packet.Packet {
	var props *packet.Properties
	var out packet.Packet
	switch p := p.(type) {
	case *packet.Puback:
		q := *p
		props, out = &q.Props, &q
	case *packet.Pubrec:
		q := *p
		props, out = &q.Props, &q
	case *packet.Pubrel:
		q := *p
		props, out = &q.Props, &q
	case *packet.Pubcomp:
		q := *p
		props, out = &q.Props, &q
	case *packet.Disconnect:
		q := *p
		props, out = &q.Props, &q
	case *packet.Auth:
		q := *p
		props, out = &q.Props, &q
	default:
		return nil
	}
	if !props.Has(packet.PropReasonString) && (!dropUser || len(props.User) == 0) {
		return nil
	}
	props.Clear(packet.PropReasonString)
	props.ReasonString = ""
	if dropUser {
		props.User = nil
	}
	return out
}
