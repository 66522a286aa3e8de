package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// readBufferSize is small so that idle connections stay cheap; packet.Read
// reads larger bodies straight into their own buffer.
const readBufferSize = 512

// closeGrace bounds how long a final packet (DISCONNECT, refused CONNACK)
// may take to reach a client before the socket is closed anyway. Tests may
// lengthen it.
var closeGrace = time.Second

// maxControlBacklog bounds the acknowledgements queued for a client that
// sends but does not read; past it the client is disconnected.
const maxControlBacklog = 1 << 16

var errClientDisconnect = errors.New("broker: client sent DISCONNECT")

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// conn is one network connection. Its read goroutine (serve) owns the
// fields above wmu; the write goroutine runs only while wq is not empty.
type conn struct {
	s      *Server
	period *sync.WaitGroup // the serving period's goroutines (Server.period)
	nc     net.Conn
	raw    syscall.RawConn // nc's socket for pushNow; nil when not a TCP or unix socket (set once)
	br     *bufio.Reader
	remote string

	version   packet.Version
	clientID  string
	connectID string // the client id CONNECT asked for, for the packet log
	username  string
	sess      *session
	keepAlive time.Duration // read deadline: 1.5 times the keep alive
	aliasIn   map[uint16]string
	will      *packet.Will
	willDelay uint32
	recvMax   int // inbound QoS 2 window announced in CONNACK

	// Set during CONNECT, before the connection is attached to its
	// session; read-only afterwards.
	recvMaxOut   int    // client's Receive Maximum
	maxPacketOut int    // client's Maximum Packet Size, 0 none
	aliasMaxOut  uint16 // client's Topic Alias Maximum

	// Set under the old session's mu when a new connection takes over.
	takenOver bool
	resumed   bool // the new connection resumed the session

	wmu      sync.Mutex
	wq       []packet.Packet
	wq0      int // QoS 0 PUBLISH packets in wq
	writing  bool
	closing  bool // accept no more packets
	closeReq bool // close the socket once wq is written
	dead     bool // socket closed or failed: discard writes
	aliasOut map[string]uint16
	stopping atomic.Bool // the server is shutting down
	kicked   atomic.Bool // closed by the server: takeover or shutdown
	// willTaken is set once the will is discarded by DISCONNECT or taken to
	// be published, by the read goroutine or by the server shutting down:
	// whoever sets it publishes, so the will goes out at most once.
	willTaken atomic.Bool
	accepted  atomic.Bool // CONNACK queued; version and sess are set
}

func newConn(s *Server, nc net.Conn, period *sync.WaitGroup) *conn {
	cc := &countingConn{Conn: nc, st: &s.stats}
	return &conn{
		s:          s,
		raw:        rawSocket(nc),
		period:     period,
		nc:         cc,
		br:         bufio.NewReaderSize(cc, readBufferSize),
		remote:     nc.RemoteAddr().String(),
		recvMaxOut: 65535,
	}
}

// countingConn counts bytes for $SYS/broker/bytes/{received,sent}.
type countingConn struct {
	net.Conn
	st *stats
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.st.bytesReceived.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.st.bytesSent.Add(int64(n))
	return n, err
}

// serve runs the read loop until the connection ends.
func (c *conn) serve(ctx context.Context) {
	connected := false
	defer func() {
		if connected {
			c.cleanup()
		}
		c.close()
	}()
	// [MQTT-3.1.4-1]: a complete CONNECT within the connect timeout.
	c.readDeadline(time.Now().Add(c.s.opts.ConnectTimeout))
	maxConnect := preConnectMax
	if m := c.s.opts.MaxPacketSize; m > 0 && m < maxConnect {
		maxConnect = m
	}
	p, err := packet.Read(c.br, packet.V5, maxConnect)
	if err != nil {
		if cp, ok := p.(*packet.Connect); ok && errors.Is(err, packet.UnsupportedProtocolVersion) {
			// [MQTT-3.1.2-2]: CONNACK 0x01 (0x84 at level 5), then close.
			v := packet.V311
			if cp.Version == packet.V5 {
				v = packet.V5
			}
			c.version = v
			c.closeWith(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion})
		}
		c.logDebug("connect from %s failed: %v", c.remote, err)
		return
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		c.logDebug("first packet from %s is %s, not CONNECT", c.remote, p.Type()) // [MQTT-3.1.0-1]
		return
	}
	c.s.stats.msgsReceived.Add(1)
	if !c.connect(ctx, cp) {
		return
	}
	connected = true
	for {
		if c.keepAlive > 0 {
			c.readDeadline(time.Now().Add(c.keepAlive))
		} else {
			c.readDeadline(time.Time{})
		}
		p, err := packet.Read(c.br, c.version, c.s.opts.MaxPacketSize)
		if err == nil {
			c.s.stats.msgsReceived.Add(1)
			if c.s.logPackets {
				c.logPacket(true, p)
			}
			err = c.handle(ctx, p)
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// readDeadline sets the read deadline unless the connection was kicked,
// whose deadline of now must stay.
func (c *conn) readDeadline(t time.Time) {
	c.nc.SetReadDeadline(t)
	if c.kicked.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
}

// fail reports why the connection ends: v5 clients get DISCONNECT with the
// reason code err carries [MQTT-4.13.1-1]; 3.1.x clients are just closed,
// by serve once the session is detached.
func (c *conn) fail(err error) {
	if c.kicked.Load() {
		return
	}
	if errors.Is(err, errClientDisconnect) {
		c.s.logf(LogInfo, "Client %s disconnected.", c.clientID)
		return
	}
	var rc packet.ReasonCode
	switch {
	case errors.As(err, &rc):
		c.s.logf(LogInfo, "Client %s disconnected: %v.", c.clientID, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		rc = packet.KeepAliveTimeout
		c.s.logf(LogInfo, "Client %s has exceeded timeout, disconnecting.", c.clientID)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		c.s.logf(LogInfo, "Client %s closed its connection.", c.clientID)
		return
	default:
		c.s.logf(LogInfo, "Client %s disconnected: %v.", c.clientID, err)
		return
	}
	if c.version == packet.V5 && packet.ValidReason(packet.DISCONNECT, rc) && rc.IsError() {
		d := &packet.Disconnect{ReasonCode: rc}
		d.Props.SetString(packet.PropReasonString, reasonString(err))
		c.closeWith(d)
	}
}

// reasonString is the text of err for a v5 Reason String, kept short so the
// packet fits any sensible Maximum Packet Size.
func reasonString(err error) string {
	msg := err.Error()
	if len(msg) > 100 {
		msg = msg[:100]
	}
	return strings.ToValidUTF8(msg, "?")
}

func (c *conn) logDebug(format string, args ...any) { c.s.logf(LogDebug, format, args...) }

// connect handles CONNECT; it reports whether the client was accepted.
func (c *conn) connect(ctx context.Context, cp *packet.Connect) bool {
	c.connectID = cp.ClientID
	s := c.s
	c.version = cp.Version
	v5 := c.version == packet.V5
	if v5 && cp.Props.Has(packet.PropMaximumPacketSize) {
		c.maxPacketOut = int(cp.Props.MaximumPacketSize) // also bounds a refusal
	}
	refuse := func(rc packet.ReasonCode) bool {
		ack := &packet.Connack{ReasonCode: rc}
		if v5 {
			ack.Props.SetString(packet.PropReasonString, rc.String())
		}
		c.closeWith(ack)
		s.logf(LogNotice, "Client %s from %s refused: %v.", cp.ClientID, c.remote, rc)
		return false
	}
	if v5 && cp.Props.Has(packet.PropAuthMethod) {
		return refuse(packet.BadAuthenticationMethod) // no enhanced authentication [MQTT-4.12.0-1]
	}
	id := cp.ClientID
	assigned := false
	if id == "" {
		if !v5 && (!cp.CleanStart || c.version == packet.V31) {
			return refuse(packet.ClientIdentifierNotValid) // [MQTT-3.1.3-8]
		}
		id = s.assignID()
		assigned = true
	}
	ka := int(cp.KeepAlive)
	serverKA := false
	if maxKA := s.opts.MaxKeepalive; ka > maxKA || (ka == 0 && maxKA < 65535) {
		if !v5 {
			if ka > maxKA {
				return refuse(packet.ClientIdentifierNotValid) // like mosquitto
			}
		} else {
			ka, serverKA = maxKA, true
		}
	}
	if cp.Will != nil && cp.Will.QoS > s.opts.maxQoS() {
		return refuse(packet.QoSNotSupported) // [MQTT-3.2.2-12]
	}
	if rc := s.auth.Authenticate(ctx, cp); rc != packet.Success {
		return refuse(rc)
	}
	c.clientID, c.username = id, cp.Username
	if ka > 0 {
		c.keepAlive = time.Duration(ka) * 1500 * time.Millisecond
	}
	expiry := uint32(0)
	if v5 {
		if cp.Props.Has(packet.PropReceiveMaximum) {
			c.recvMaxOut = int(cp.Props.ReceiveMaximum)
		}
		c.aliasMaxOut = cp.Props.TopicAliasMaximum
		expiry = cp.Props.SessionExpiry
	} else if !cp.CleanStart {
		expiry = math.MaxUint32
	}
	c.recvMax = s.opts.receiveMaximum()
	if cp.Will != nil {
		c.will = cp.Will
		c.willDelay = cp.Will.Props.WillDelay
	}

	ack := &packet.Connack{}
	if v5 {
		pr := &ack.Props
		if assigned {
			pr.SetString(packet.PropAssignedClientID, id)
		}
		if serverKA {
			pr.SetUint(packet.PropServerKeepAlive, uint64(ka))
		}
		pr.SetUint(packet.PropReceiveMaximum, uint64(c.recvMax))
		if s.opts.MaxPacketSize > 0 {
			pr.SetUint(packet.PropMaximumPacketSize, uint64(s.opts.MaxPacketSize))
		}
		if s.opts.MaxTopicAlias > 0 {
			pr.SetUint(packet.PropTopicAliasMaximum, uint64(s.opts.MaxTopicAlias))
		}
		// Maximum QoS 2 is announced by leaving the property out.
		if mq := s.opts.maxQoS(); mq < packet.ExactlyOnce {
			pr.SetUint(packet.PropMaximumQoS, uint64(mq))
		}
		pr.SetUint(packet.PropRetainAvailable, 1)
		pr.SetUint(packet.PropWildcardSubAvailable, 1)
		pr.SetUint(packet.PropSubscriptionIDAvailable, 1)
		pr.SetUint(packet.PropSharedSubAvailable, 1)
		if cp.Props.RequestResponseInfo == 1 {
			pr.SetString(packet.PropResponseInfo, "mqtool/response/"+id)
		}
	}
	// The CONNACK is queued and c attached to its session in one step
	// with taking the session over: a CONNECT with the same client id
	// that comes in as soon as this CONNACK is out must find c there to
	// close it.
	s.takeSession(c, id, cp.CleanStart, expiry, func(ss *session, present bool) {
		c.sess = ss
		ack.SessionPresent = present
		s.logf(LogInfo, "New client connected from %s as %s (p%d, c%d, k%d%s).",
			c.remote, id, mosquittoLevel(c.version), b2i(cp.CleanStart), ka, userText(cp.Username))
		if s.logPackets {
			for _, line := range willLines(cp.Will) {
				s.opts.Log(LogDebug, line)
			}
		}
		c.enqueue(ack)
		if afterConnackHook != nil {
			afterConnackHook()
		}
		c.accepted.Store(true)
		s.stats.connects.Add(1)
		n := s.stats.connected.Add(1)
		for {
			m := s.stats.maximum.Load()
			if n <= m || s.stats.maximum.CompareAndSwap(m, n) {
				break
			}
		}
		ss.online(c, time.Now())
	})
	return true
}

// client returns c as the Authenticator sees it.
func (c *conn) client() Client {
	return Client{ID: c.clientID, Username: c.username, Remote: c.remote}
}

// isSysTopic reports whether topic is in the broker's $SYS tree.
func isSysTopic(topic string) bool {
	return topic == "$SYS" || strings.HasPrefix(topic, "$SYS/")
}

// afterConnackHook, when set by a test, runs once a CONNACK is queued,
// before the connection owns its session.
var afterConnackHook func()

// mosquittoLevel is the protocol number mosquitto's log shows: p1 for 3.1,
// p2 for 3.1.1, p5 for 5.0.
func mosquittoLevel(v packet.Version) int {
	switch v {
	case packet.V31:
		return 1
	case packet.V311:
		return 2
	}
	return int(v)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func userText(u string) string {
	if u == "" {
		return ""
	}
	return ", u'" + u + "'"
}

// takeSession finds or creates the session for id and takes it from the
// connection that has it, which is closed: v5 clients get DISCONNECT 0x8E
// [MQTT-3.1.4-3]. Then, with the session table still locked, attach makes
// c the owner; present reports whether an existing session was resumed.
func (s *Server) takeSession(c *conn, id string, clean bool, expiry uint32, attach func(ss *session, present bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ss *session
	present := false
	var will *Message
	if old := s.sessions[id]; old != nil {
		old.mu.Lock()
		// A session that lasts only as long as its connection (Clean
		// Session 1, Session Expiry 0) ends with it [MQTT-3.1.2-6].
		resume := !clean && old.persistent
		oc := old.conn
		old.conn = nil
		if oc != nil {
			oc.takenOver, oc.resumed = true, resume
		}
		if !resume {
			will = old.pendingWill // the session ends [MQTT-3.1.3-9]
		}
		old.stopTimers() // a reconnect cancels a delayed will
		old.mu.Unlock()
		if oc != nil {
			oc.takeover()
		}
		if !resume {
			delete(s.sessions, id)
			old.end()
		} else {
			ss, present = old, true
		}
	}
	if ss == nil {
		ss = newSession(s, id)
		s.sessions[id] = ss
	}
	ss.mu.Lock()
	ss.client = Client{ID: id, Username: c.username, Remote: c.remote}
	ss.version = c.version
	ss.expiry = expiry
	ss.persistent = expiry != 0
	info := ss.info(time.Time{})
	ss.mu.Unlock()
	if err := s.store.PutSession(info); err != nil {
		s.logf(LogError, "Error: storing session %s: %v", id, err)
	}
	if will != nil {
		c.period.Go(func() { s.publishWill(will) })
	}
	attach(ss, present)
}

// takeover closes c because another connection took its client id.
func (c *conn) takeover() {
	c.s.logf(LogNotice, "Client %s already connected, closing old connection.", c.clientID)
	c.kick(packet.SessionTakenOver)
}

// kick makes the read loop end: v5 clients get DISCONNECT rc first.
func (c *conn) kick(rc packet.ReasonCode) {
	c.kicked.Store(true)
	if c.accepted.Load() && c.version == packet.V5 {
		c.closeWith(&packet.Disconnect{ReasonCode: rc})
	}
	c.nc.SetReadDeadline(time.Now())
}

// cleanup runs when an accepted connection ends: it detaches from the
// session, publishes or schedules the will, and ends or schedules the end
// of a non-persistent session.
func (c *conn) cleanup() {
	s, ss := c.s, c.sess
	s.stats.connected.Add(-1)
	if c.stopping.Load() {
		ss.mu.Lock()
		if ss.conn == c {
			ss.conn = nil
		}
		ss.mu.Unlock()
		// Accepted after the server published the wills of its
		// connections: this one goes out late, but goes out.
		if will := c.willMessage(); will != nil {
			s.publishWill(will)
		}
		return
	}
	will := c.willMessage()
	s.mu.Lock()
	ss.mu.Lock()
	if ss.conn != c {
		// Taken over: the will goes out unless the new connection resumed
		// the session within the Will Delay Interval [MQTT-3.1.3-9].
		resumed := c.resumed
		ss.mu.Unlock()
		s.mu.Unlock()
		if will != nil && (c.willDelay == 0 || !resumed) {
			s.publishWill(will)
		}
		return
	}
	ss.conn = nil
	if ss.expiry == 0 {
		ss.mu.Unlock()
		if s.sessions[ss.id] == ss {
			delete(s.sessions, ss.id)
		}
		ss.end()
	} else {
		// While the server stops there are no timers: the will goes
		// out now and the session stays as it is.
		stopping := s.stoppingAll()
		if ss.expiry != math.MaxUint32 && s.serving > 0 && !stopping {
			ss.expireTimer = time.AfterFunc(time.Duration(ss.expiry)*time.Second, func() { s.expireSession(ss) })
		}
		if will != nil && c.willDelay > 0 && s.serving > 0 && !stopping {
			delay := min(c.willDelay, ss.expiry)
			w := will
			ss.pendingWill = w
			ss.willTimer = time.AfterFunc(time.Duration(delay)*time.Second, func() { s.delayedWill(ss, w) })
			will = nil
		}
		info := ss.info(time.Now())
		ss.mu.Unlock()
		if err := s.store.PutSession(info); err != nil {
			s.logf(LogError, "Error: storing session %s: %v", ss.id, err)
		}
	}
	s.mu.Unlock()
	if will != nil {
		s.publishWill(will)
	}
}

// delayedWill publishes a will whose delay passed without a reconnect.
func (s *Server) delayedWill(ss *session, will *Message) {
	ss.mu.Lock()
	ok := ss.pendingWill == will && ss.conn == nil
	if ok {
		ss.pendingWill = nil
		ss.willTimer = nil
	}
	ss.mu.Unlock()
	if !ok {
		return
	}
	if period := s.join(); period != nil {
		defer period.Done()
		s.publishWill(will)
	}
}

// willMessage returns the message to publish as c's will, or nil when
// there is none or it was discarded or taken before. The caller publishes
// or schedules it.
func (c *conn) willMessage() *Message {
	if c.will == nil || !c.willTaken.CompareAndSwap(false, true) {
		return nil
	}
	w, cl := c.will, c.client()
	m := &Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, From: c.clientID, will: &cl}
	if c.version == packet.V5 {
		m.Props = forwardProps(&w.Props, time.Now(), &m.Expires)
		if w.Props.Has(packet.PropMessageExpiry) && w.Props.MessageExpiry > 0 {
			m.Expires = time.Time{}
			m.lifetime = time.Duration(w.Props.MessageExpiry) * time.Second
		}
	}
	return m
}

// publishWill publishes a will; its Message Expiry Interval starts now. A
// will its client may not publish (on a $SYS topic, or refused by the
// Authenticator) is dropped, as mosquitto checks its ACL then too.
func (s *Server) publishWill(will *Message) {
	if isSysTopic(will.Topic) || (will.will != nil && !s.auth.Authorize(context.Background(), *will.will, AccessPublish, will.Topic)) {
		s.logf(LogDebug, "Denied will of %s on %s.", will.From, will.Topic)
		return
	}
	if will.lifetime > 0 {
		m := *will
		m.Expires = time.Now().Add(m.lifetime)
		will = &m
	}
	s.publish(will, nil, false)
}

// forwardProps returns the properties of an incoming PUBLISH or will that
// are forwarded to subscribers unchanged; Message Expiry becomes *expires.
func forwardProps(in *packet.Properties, now time.Time, expires *time.Time) packet.Properties {
	out := packet.Properties{User: in.User, CorrelationData: in.CorrelationData}
	if in.Has(packet.PropPayloadFormat) {
		out.SetUint(packet.PropPayloadFormat, uint64(in.PayloadFormat))
	}
	if in.Has(packet.PropContentType) {
		out.SetString(packet.PropContentType, in.ContentType)
	}
	if in.Has(packet.PropResponseTopic) {
		out.SetString(packet.PropResponseTopic, in.ResponseTopic)
	}
	if in.Has(packet.PropCorrelationData) {
		out.Set(packet.PropCorrelationData)
	}
	if in.Has(packet.PropMessageExpiry) {
		*expires = now.Add(time.Duration(in.MessageExpiry) * time.Second)
	}
	return out
}

// handle dispatches one packet after CONNECT.
func (c *conn) handle(ctx context.Context, p packet.Packet) error {
	ss := c.sess
	switch p := p.(type) {
	case *packet.Publish:
		return c.onPublish(ctx, p)
	case *packet.Puback:
		ss.acked(p.PacketID, packet.AtLeastOnce, StateSent)
	case *packet.Pubrec:
		ss.received(p.PacketID, p.ReasonCode)
	case *packet.Pubrel:
		ss.mu.Lock()
		_, ok := ss.inQoS2[p.PacketID]
		delete(ss.inQoS2, p.PacketID)
		if ok && !ss.removed {
			c.s.store.DeleteInbound(ss.id, p.PacketID)
		}
		ss.mu.Unlock()
		rc := packet.Success
		if !ok {
			rc = packet.PacketIdentifierNotFound
		}
		c.reply(&packet.Pubcomp{PacketID: p.PacketID, ReasonCode: rc})
	case *packet.Pubcomp:
		ss.acked(p.PacketID, packet.ExactlyOnce, StateReleased)
	case *packet.Subscribe:
		c.onSubscribe(ctx, p)
	case *packet.Unsubscribe:
		codes := make([]packet.ReasonCode, len(p.Filters))
		for i, f := range p.Filters {
			if !ss.unsubscribe(f) {
				codes[i] = packet.NoSubscriptionExisted
			}
		}
		c.enqueue(&packet.Unsuback{PacketID: p.PacketID, ReasonCodes: codes})
	case *packet.Pingreq:
		c.reply(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.onDisconnect(p)
	case *packet.Connect:
		return fmt.Errorf("broker: second CONNECT: %w", packet.ProtocolError) // [MQTT-3.1.0-2]
	default:
		return fmt.Errorf("broker: unexpected %s from client: %w", p.Type(), packet.ProtocolError)
	}
	return nil
}

func (c *conn) onDisconnect(p *packet.Disconnect) error {
	ss := c.sess
	if c.version == packet.V5 && p.Props.Has(packet.PropSessionExpiry) {
		ss.mu.Lock()
		if ss.expiry == 0 && p.Props.SessionExpiry != 0 {
			ss.mu.Unlock()
			return fmt.Errorf("broker: DISCONNECT sets session expiry after 0: %w", packet.ProtocolError) // [MQTT-3.14.2-2]
		}
		ss.expiry = p.Props.SessionExpiry
		ss.persistent = ss.expiry != 0
		ss.mu.Unlock()
	}
	// [MQTT-3.14.4-3]: DISCONNECT 0x00 (any DISCONNECT before 5.0)
	// discards the will. Any other code, 0x04 or an error, leaves it to be
	// published [MQTT-3.1.2-8]; mosquitto 2.0 discards it for all but 0x04.
	if c.version != packet.V5 || p.ReasonCode == packet.NormalDisconnection {
		c.willTaken.Store(true)
	}
	return errClientDisconnect
}

func (c *conn) onPublish(ctx context.Context, p *packet.Publish) error {
	s, ss := c.s, c.sess
	s.stats.pubReceived.Add(1)
	s.stats.pubBytesReceived.Add(int64(len(p.Payload)))
	topic := p.Topic
	if p.QoS > s.opts.maxQoS() {
		return fmt.Errorf("broker: PUBLISH at QoS %d above maximum QoS %d: %w", p.QoS, s.opts.maxQoS(), packet.QoSNotSupported) // [MQTT-3.2.2-11]
	}
	if len(p.Props.SubscriptionIDs) > 0 {
		return fmt.Errorf("broker: PUBLISH from a client with a subscription identifier: %w", packet.ProtocolError) // [MQTT-3.3.4-6]
	}
	if c.version == packet.V5 && p.Props.Has(packet.PropTopicAlias) {
		a := p.Props.TopicAlias
		if a == 0 || int(a) > s.opts.MaxTopicAlias {
			return fmt.Errorf("broker: topic alias %d: %w", a, packet.TopicAliasInvalid) // [MQTT-3.3.2-9]
		}
		if topic == "" {
			t, ok := c.aliasIn[a]
			if !ok {
				return fmt.Errorf("broker: unknown topic alias %d: %w", a, packet.TopicAliasInvalid)
			}
			topic = t
		} else {
			if c.aliasIn == nil {
				c.aliasIn = map[uint16]string{}
			}
			c.aliasIn[a] = topic
		}
	}
	if s.logPackets {
		c.logPublish(publishReceived, p, topic)
	}
	if p.QoS == packet.ExactlyOnce {
		// The id is held from here, not only once the message is routed,
		// so that the same PUBLISH re-sent on a connection that took this
		// one over is not delivered twice either.
		ss.mu.Lock()
		_, dup := ss.inQoS2[p.PacketID]
		over := !dup && c.version == packet.V5 && len(ss.inQoS2) >= c.recvMax
		if !dup && !over {
			ss.inQoS2[p.PacketID] = struct{}{}
		}
		ss.mu.Unlock()
		if dup {
			// Exactly once: a re-sent PUBLISH before PUBREL is not
			// delivered again [MQTT-4.3.3-9].
			c.enqueue(&packet.Pubrec{PacketID: p.PacketID})
			return nil
		}
		if over {
			return fmt.Errorf("broker: more than %d QoS 2 messages unacknowledged: %w", c.recvMax, packet.ReceiveMaximumExceeded) // [MQTT-3.3.4-9]
		}
	}
	rc := packet.Success
	// $SYS belongs to the broker: clients may not publish there, as in
	// mosquitto (a v5 client gets Not authorized).
	if isSysTopic(topic) || !s.auth.Authorize(ctx, c.client(), AccessPublish, topic) {
		rc = packet.NotAuthorized
		if s.logPackets {
			c.logPublish(publishDenied, p, topic)
		}
	} else {
		now := time.Now()
		m := &Message{Topic: topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, From: c.clientID}
		if c.version == packet.V5 {
			m.Props = forwardProps(&p.Props, now, &m.Expires)
		}
		if s.publish(m, ss, c.br.Buffered() == 0) == 0 && c.version == packet.V5 {
			rc = packet.NoMatchingSubscribers
		}
	}
	switch p.QoS {
	case packet.AtLeastOnce:
		c.reply(&packet.Puback{PacketID: p.PacketID, ReasonCode: rc})
	case packet.ExactlyOnce:
		if rc.IsError() {
			ss.mu.Lock()
			delete(ss.inQoS2, p.PacketID)
			ss.mu.Unlock()
		} else {
			ss.mu.Lock()
			if !ss.removed {
				s.store.PutInbound(ss.id, p.PacketID)
			}
			ss.mu.Unlock()
		}
		c.reply(&packet.Pubrec{PacketID: p.PacketID, ReasonCode: rc})
	}
	return nil
}

func (c *conn) onSubscribe(ctx context.Context, p *packet.Subscribe) {
	s, ss := c.s, c.sess
	var subID uint32
	if len(p.Props.SubscriptionIDs) > 0 {
		subID = p.Props.SubscriptionIDs[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	cl := c.client()
	for i, r := range p.Subscriptions {
		if !s.auth.Authorize(ctx, cl, AccessSubscribe, r.Filter) {
			codes[i] = packet.NotAuthorized
		}
	}
	// The subscriptions, the SUBACK and the retained messages are one step
	// for the session, as in mosquitto: a message published meanwhile
	// waits for ss.mu, so it reaches the client after the retained
	// messages and never before an older retained value. (Holding back
	// such deliveries instead of the lock is not enough: the publisher
	// stores a retained message before routing it, so the replay could
	// send a value newer than the deliveries held back.) The cost: while
	// a large replay runs, deliveries to this session and a takeover of
	// it wait.
	var jobs []Subscription
	ss.mu.Lock()
	for i, r := range p.Subscriptions {
		if codes[i] == packet.NotAuthorized {
			continue
		}
		sub := Subscription{Filter: r.Filter, QoS: min(r.QoS, s.opts.maxQoS()), NoLocal: r.NoLocal,
			RetainAsPublished: r.RetainAsPublished, RetainHandling: r.RetainHandling, ID: subID}
		existed := ss.subscribeLocked(sub)
		codes[i] = packet.ReasonCode(sub.QoS)
		// Retained messages on subscribe [MQTT-3.3.1-9], by Retain
		// Handling [MQTT-3.3.1-10] [MQTT-3.3.1-11]; none for shared
		// subscriptions (MQTT 5.0 section 4.8.2).
		if packet.IsShared(r.Filter) || sub.RetainHandling == packet.DoNotSendRetained ||
			(sub.RetainHandling == packet.SendRetainedIfNew && existed) {
			continue
		}
		jobs = append(jobs, sub)
	}
	c.enqueue(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
	if afterSubscribeHook != nil {
		afterSubscribeHook()
	}
	now := time.Now()
	for _, sub := range jobs {
		var ids []uint32
		if sub.ID != 0 {
			ids = []uint32{sub.ID}
		}
		s.store.Retained(sub.Filter, func(m *Message) bool {
			if m.expired(now) {
				return true
			}
			ss.deliverLocked(m, min(m.QoS, sub.QoS), true, ids, now, false)
			return true
		})
	}
	ss.mu.Unlock()
	for i, r := range p.Subscriptions {
		if codes[i] != packet.NotAuthorized {
			s.logf(LogInfo, "Client %s subscribed to %s (QoS %d).", c.clientID, r.Filter, r.QoS)
		}
	}
}

// afterSubscribeHook, when set by a test, runs in onSubscribe once the
// subscriptions are in place and the SUBACK is queued, before the retained
// messages, with the session lock held.
var afterSubscribeHook func()

// sendPublish queues sm for writing, or writes it at once when it came alone
// (see deliver); dup marks a re-send. It returns false
// when the message was not queued: too large for the client's Maximum
// Packet Size, or a QoS 0 message over the queue limit.
func (c *conn) sendPublish(sm *StoredMessage, dup bool, now time.Time, alone bool) bool {
	m := sm.Msg
	p := &packet.Publish{Dup: dup, QoS: sm.QoS, Retain: sm.Retain, Topic: m.Topic, PacketID: sm.PacketID, Payload: m.Payload}
	if c.version == packet.V5 {
		p.Props = m.Props
		p.Props.SubscriptionIDs = sm.SubIDs
		if !m.Expires.IsZero() {
			left := m.Expires.Sub(now)
			secs := uint64((left + time.Second - 1) / time.Second) // [MQTT-3.3.2-6]
			p.Props.SetUint(packet.PropMessageExpiry, max(secs, 1))
		}
	}
	size := 0
	if c.maxPacketOut > 0 {
		n, err := packet.Size(p, c.version)
		if err != nil || n > c.maxPacketOut {
			return false
		}
		size = n
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead || c.closing {
		return sm.QoS > packet.AtMostOnce // QoS 1/2 stay inflight for the next connection
	}
	if sm.QoS == packet.AtMostOnce {
		o := &c.s.opts
		if o.MaxQueuedMessages > 0 && c.wq0 >= o.MaxQueuedMessages {
			return false
		}
	}
	if c.s.logPackets {
		c.logPublish(publishSent, p, m.Topic)
	}
	if c.aliasMaxOut > 0 {
		if a, ok := c.aliasOut[m.Topic]; ok {
			p.Topic = ""
			p.Props.SetUint(packet.PropTopicAlias, uint64(a))
		} else if len(c.aliasOut) < int(c.aliasMaxOut) && (size == 0 || size+aliasOverhead <= c.maxPacketOut) {
			if c.aliasOut == nil {
				c.aliasOut = map[string]uint16{}
			}
			a := uint16(len(c.aliasOut) + 1)
			c.aliasOut[m.Topic] = a
			p.Props.SetUint(packet.PropTopicAlias, uint64(a))
		}
	}
	if !alone || !c.pushNow(p) {
		c.push(p)
	}
	return true
}

// aliasOverhead is the most a new Topic Alias adds to a PUBLISH: the
// property (3 bytes) and a longer Property Length and Remaining Length.
const aliasOverhead = 5

// enqueue queues p for writing.
func (c *conn) enqueue(p packet.Packet) { c.send(p, false) }

// reply is enqueue for an answer to the packet just read, called by the
// read goroutine: when nothing more waits in the read buffer, no other
// answer follows at once, so p is written straight away if the socket
// takes it without blocking.
func (c *conn) reply(p packet.Packet) { c.send(p, c.br.Buffered() == 0) }

func (c *conn) send(p packet.Packet, atOnce bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead || c.closing {
		return
	}
	if len(c.wq) >= maxControlBacklog {
		c.dead = true
		c.nc.Close() // a client that does not read its acknowledgements
		return
	}
	c.fit(p)
	if !atOnce || !c.pushNow(p) {
		c.push(p)
	}
}

// fit drops the Reason String and User Properties of p when p would
// otherwise exceed the client's Maximum Packet Size [MQTT-3.1.2-25]
// [MQTT-3.1.2-26].
func (c *conn) fit(p packet.Packet) {
	if c.maxPacketOut == 0 || c.version != packet.V5 {
		return
	}
	var pr *packet.Properties
	switch p := p.(type) {
	case *packet.Connack:
		pr = &p.Props
	case *packet.Disconnect:
		pr = &p.Props
	case *packet.Puback:
		pr = &p.Props
	case *packet.Pubrec:
		pr = &p.Props
	case *packet.Pubrel:
		pr = &p.Props
	case *packet.Pubcomp:
		pr = &p.Props
	case *packet.Suback:
		pr = &p.Props
	case *packet.Unsuback:
		pr = &p.Props
	default:
		return
	}
	if n, err := packet.Size(p, c.version); err == nil && n <= c.maxPacketOut {
		return
	}
	pr.Clear(packet.PropReasonString)
	pr.ReasonString = ""
	pr.User = nil
}

// push logs p (with --debug) and queues it. c.wmu is held.
func (c *conn) push(p packet.Packet) {
	if c.s.logPackets {
		c.logPacket(false, p)
	}
	c.queue(p)
}

// queue appends p to the queue and starts the writer. c.wmu is held.
func (c *conn) queue(p packet.Packet) {
	if pub, ok := p.(*packet.Publish); ok && pub.QoS == packet.AtMostOnce {
		c.wq0++
	}
	c.wq = append(c.wq, p)
	if !c.writing {
		c.writing = true
		c.period.Add(1)
		go c.writeLoop()
	}
}

// pushNow does what push does, but writes p at once, without waking a
// writer goroutine, when nothing is queued before it: with a system call
// that does not block, whatever the socket does not take being queued for
// the writer. It reports false, having done nothing, when p must go
// through push (something is queued, p is large, or the connection is not
// a socket). This saves a goroutine wake-up per packet when packets come
// one at a time; under load the writer batches them. c.wmu is held.
func (c *conn) pushNow(p packet.Packet) bool {
	if c.writing || len(c.wq) > 0 || c.raw == nil {
		return false
	}
	if pub, ok := p.(*packet.Publish); ok && len(pub.Payload) > inlineMax {
		return false
	}
	bp := inlinePool.Get().(*[]byte)
	defer inlinePool.Put(bp)
	buf, err := packet.Append((*bp)[:0], p, c.version)
	if cap(buf) <= 4*inlineMax {
		*bp = buf[:0]
	}
	if err != nil || len(buf) > 2*inlineMax {
		return false // the writer reports the error, and writes large packets uncopied
	}
	if c.s.logPackets {
		c.logPacket(false, p) // before the client can have it, as push does
	}
	n := -1
	if c.raw.Write(func(fd uintptr) bool {
		n, _ = writeSocket(fd, buf)
		return true // never wait: the writer does
	}) != nil || n <= 0 {
		c.queue(p)
		return true
	}
	c.s.stats.bytesSent.Add(int64(n))
	c.s.stats.msgsSent.Add(1)
	if pub, ok := p.(*packet.Publish); ok {
		c.s.stats.pubSent.Add(1)
		c.s.stats.pubBytesSent.Add(int64(len(pub.Payload)))
	}
	if n < len(buf) {
		c.queue(rest(bytes.Clone(buf[n:])))
	}
	return true
}

// inlineMax is the largest PUBLISH payload pushNow writes: larger ones go
// to the writer, which writes them uncopied.
const inlineMax = 1024

var inlinePool = sync.Pool{New: func() any { b := make([]byte, 0, 2*inlineMax); return &b }}

// rest is the end of a packet pushNow wrote only in part, for the writer.
type rest []byte

// Type implements packet.Packet; a rest is never logged or inspected.
func (rest) Type() packet.Type { return 0 }

// closeWith queues p as the last packet; the socket closes when serve ends.
func (c *conn) closeWith(p packet.Packet) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead || c.closing {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	c.fit(p)
	c.push(p)
	c.closing = true
}

// close closes the socket once what is queued has been written.
func (c *conn) close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead {
		return
	}
	c.closing, c.closeReq = true, true
	if !c.writing {
		c.dead = true
		c.nc.Close()
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	}
}

// shutdown is called when the server stops, after willOnShutdown has run
// for every connection of the listener: v5 clients get DISCONNECT 0x8B
// (server shutting down).
func (c *conn) shutdown() {
	if c.kicked.Load() {
		return // taken over: its cleanup applies the rules of a takeover
	}
	c.stopping.Store(true)
	c.kick(packet.ServerShuttingDown)
}

// willOnShutdown publishes c's will as the server stops, whatever its Will
// Delay Interval, since the connection closes without DISCONNECT
// [MQTT-3.1.2-8]; mosquitto does the same. From here on the read goroutine
// leaves the will and the session alone. A connection taken over is left
// to its own cleanup, which applies the Will Delay Interval.
func (c *conn) willOnShutdown() {
	if !c.accepted.Load() || c.kicked.Load() {
		return
	}
	c.stopping.Store(true)
	if will := c.willMessage(); will != nil {
		c.s.publishWill(will)
	}
}

// writeLoop writes queued packets until the queue is empty, then exits.
// It borrows a buffered writer only while it has something to write.
func (c *conn) writeLoop() {
	defer c.period.Done()
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	defer func() {
		bw.Reset(nil)
		writerPool.Put(bw)
	}()
	var batch []packet.Packet
	for {
		c.wmu.Lock()
		if len(c.wq) == 0 || c.dead {
			c.writing = false
			c.wq = nil
			if c.closeReq && !c.dead {
				c.dead = true
				c.nc.Close()
			}
			c.wmu.Unlock()
			return
		}
		batch, c.wq = c.wq, batch[:0]
		c.wq0 = 0
		c.wmu.Unlock()
		var err error
		pubs, pubBytes, rests := 0, 0, 0
		for i, p := range batch {
			if r, ok := p.(rest); ok {
				if err == nil {
					_, err = bw.Write(r)
				}
				batch[i] = nil
				rests++
				continue
			}
			if err == nil {
				err = packet.Write(bw, p, c.version)
			}
			if pub, ok := p.(*packet.Publish); ok {
				pubs++
				pubBytes += len(pub.Payload)
			}
			batch[i] = nil
		}
		if err == nil {
			err = bw.Flush()
		}
		c.s.stats.msgsSent.Add(int64(len(batch) - rests))
		c.s.stats.pubSent.Add(int64(pubs))
		c.s.stats.pubBytesSent.Add(int64(pubBytes))
		if err != nil {
			c.wmu.Lock()
			c.dead = true
			c.nc.Close()
			c.wmu.Unlock()
		}
	}
}
