package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// Server is an MQTT broker. Create it with New and run it with Serve.
type Server struct {
	opts  Options
	store Store
	auth  Authenticator
	tree  topicTree
	stats stats
	start time.Time

	// period counts the connection, write and housekeeping goroutines
	// of the current serving period (from the first Serve call to the
	// last one's return), so that a Serve call starting while the last
	// period winds down neither waits for it nor is waited for.
	period *sync.WaitGroup

	sysMu sync.Mutex // held by publishSys: two housekeeping goroutines may overlap as Serve restarts
	load  sysLoad    // guarded by sysMu

	// logPackets is set when the log takes LogDebug: every packet is
	// logged as mosquitto -v does.
	logPackets bool

	mu       sync.Mutex
	sessions map[string]*session
	serving  int                // Serve calls running
	ending   int                // of those, the ones stopping
	stopHK   context.CancelFunc // stops the housekeeping goroutine
	nextID   uint64             // for assigned client identifiers
}

// stats are the counters behind $SYS.
type stats struct {
	bytesReceived, bytesSent       atomic.Int64
	msgsReceived, msgsSent         atomic.Int64 // packets of any type
	pubReceived, pubSent, pubDrops atomic.Int64
	pubBytesReceived, pubBytesSent atomic.Int64 // PUBLISH payloads
	connected, maximum             atomic.Int64
	connects, sockets              atomic.Int64 // CONNECTs accepted, connections accepted
	expired                        atomic.Int64 // sessions ended by their expiry
}

// New returns a Server with opts; zero fields take their defaults.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:     opts,
		store:    opts.Store,
		auth:     opts.Auth,
		start:    time.Now(),
		sessions: map[string]*session{},
	}
	s.logPackets = opts.Log != nil && opts.LogLevel >= LogDebug
	s.restore()
	return s
}

// restore rebuilds persistent sessions from the store: subscriptions go
// back into the topic tree and messages into each session's queues.
func (s *Server) restore() {
	var infos []SessionInfo
	if err := s.store.Sessions(func(info SessionInfo) bool {
		infos = append(infos, info)
		return true
	}); err != nil {
		s.logf(LogError, "Error: restoring sessions: %v", err)
		return
	}
	for _, info := range infos {
		ss := newSession(s, info.ClientID)
		ss.client = Client{ID: info.ClientID}
		ss.version = info.Version
		ss.expiry = info.Expiry
		ss.persistent = true
		subs, _ := s.store.Subscriptions(info.ClientID)
		for _, sub := range subs {
			ss.subs[sub.Filter] = sub
			s.tree.add(ss, sub)
		}
		msgs, _ := s.store.Messages(info.ClientID)
		ss.restoreMessages(msgs)
		ids, _ := s.store.Inbound(info.ClientID)
		for _, id := range ids {
			ss.inQoS2[id] = struct{}{}
		}
		s.sessions[info.ClientID] = ss
		if !info.Disconnected.IsZero() && info.Expiry != 0xFFFFFFFF {
			left := time.Until(info.Disconnected.Add(time.Duration(info.Expiry) * time.Second))
			ss.mu.Lock()
			ss.expireTimer = time.AfterFunc(max(left, 0), func() { s.expireSession(ss) })
			ss.mu.Unlock()
		}
	}
}

// Serve accepts connections on lns until ctx is done or accepting fails
// for good on one of them, then closes lns and the connections accepted on
// them and returns. It blocks.
//
// When no other Serve call is running on s, that is the server stopping:
// the will of every connection and every will still waiting for its Will
// Delay Interval are published first, while the subscribers are still
// connected, as mosquitto does; then v5 clients get DISCONNECT 0x8B (server
// shutting down) and the sessions are left as they are. When another Serve
// call goes on, its clients may reconnect there: the connections end as if
// the network had failed (v5 clients still get 0x8B), so wills and sessions
// follow their delay and expiry. Pass listeners that stop together to one
// Serve call.
func (s *Server) Serve(ctx context.Context, lns ...net.Listener) error {
	if len(lns) == 0 {
		return errors.New("broker: Serve needs a listener")
	}
	period := s.beginServe()
	defer s.endServe(period)

	g := &connGroup{conns: map[*conn]struct{}{}, period: period}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(lns))
	var awg sync.WaitGroup
	for _, ln := range lns {
		awg.Add(1)
		go func() {
			defer awg.Done()
			if err := s.accept(lctx, ln, g); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	awg.Wait()
	cancel()
	var err error
	select {
	case err = <-errs:
	default:
	}

	list := g.snapshot()
	if s.lastToStop() {
		for _, c := range list {
			c.willOnShutdown()
		}
		s.publishPendingWills()
		for _, c := range list {
			c.shutdown()
		}
	} else {
		for _, c := range list {
			c.kick(packet.ServerShuttingDown)
		}
	}
	g.wg.Wait()
	return err
}

// connGroup is the connections accepted by one Serve call.
type connGroup struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	wg     sync.WaitGroup
	period *sync.WaitGroup // the serving period's, see Server.period
}

func (g *connGroup) snapshot() []*conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Collect(maps.Keys(g.conns))
}

// accept serves connections from ln in g until ctx is done, and returns
// an error when ln fails for good. It always closes ln.
func (s *Server) accept(ctx context.Context, ln net.Listener, g *connGroup) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Anything but a closed listener (EMFILE, ECONNABORTED, ...)
			// is retried with a growing delay, as net/http does.
			if !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf(LogWarning, "Warning: accept: %v; retrying in %v", err, delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("broker: accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		s.stats.sockets.Add(1)
		s.logf(LogDebug, "New connection from %s on port %d.", nc.RemoteAddr(), listenerPort(ln.Addr()))
		c := newConn(s, nc, g.period)
		g.mu.Lock()
		g.conns[c] = struct{}{}
		g.mu.Unlock()
		g.wg.Add(1)
		g.period.Add(1)
		go func() {
			defer g.period.Done()
			defer g.wg.Done()
			c.serve(ctx)
			g.mu.Lock()
			delete(g.conns, c)
			g.mu.Unlock()
		}()
	}
}

// lastToStop counts a Serve call as ending and reports whether every
// running one is: then the server as a whole is stopping.
func (s *Server) lastToStop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ending++
	return s.ending == s.serving
}

// stoppingAll reports whether the server as a whole is stopping. s.mu is
// held.
func (s *Server) stoppingAll() bool { return s.serving > 0 && s.ending == s.serving }

// publishPendingWills publishes the wills still waiting for their Will
// Delay Interval when the server stops, as the sessions end with it
// (mosquitto sends them too).
func (s *Server) publishPendingWills() {
	var wills []*Message
	s.mu.Lock()
	for _, ss := range s.sessions {
		ss.mu.Lock()
		if ss.pendingWill != nil {
			wills = append(wills, ss.pendingWill)
			ss.pendingWill = nil
			if ss.willTimer != nil {
				ss.willTimer.Stop()
				ss.willTimer = nil
			}
		}
		ss.mu.Unlock()
	}
	s.mu.Unlock()
	for _, w := range wills {
		s.publishWill(w)
	}
}

// beginServe counts a Serve call as running and returns its serving
// period's WaitGroup, starting the period with the first call.
func (s *Server) beginServe() *sync.WaitGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serving++
	if s.serving == 1 {
		s.period = new(sync.WaitGroup)
		ctx, cancel := context.WithCancel(context.Background())
		s.stopHK = cancel
		s.period.Go(func() { s.housekeeping(ctx) })
	}
	return s.period
}

// endServe stops the housekeeping goroutine and pending timers when the last
// Serve returns, and waits for every goroutine of its period to exit.
func (s *Server) endServe(period *sync.WaitGroup) {
	s.mu.Lock()
	s.serving--
	s.ending--
	last := s.serving == 0
	if last {
		s.stopHK()
		for _, ss := range s.sessions {
			ss.mu.Lock()
			ss.stopTimers()
			ss.mu.Unlock()
		}
	}
	s.mu.Unlock()
	if last {
		period.Wait()
	}
}

// join counts the calling goroutine in the current serving period and
// returns the period's WaitGroup, for the caller to call Done on; nil when
// no Serve call runs. Timers that publish use it, so the last Serve call
// waits for them.
func (s *Server) join() *sync.WaitGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving == 0 {
		return nil
	}
	s.period.Add(1)
	return s.period
}

func (s *Server) logf(level LogLevel, format string, args ...any) {
	if s.opts.Log == nil || level > s.opts.LogLevel {
		return
	}
	s.opts.Log(level, fmt.Sprintf(format, args...))
}

// assignID returns a client identifier for a client that sent none.
func (s *Server) assignID() string {
	s.mu.Lock()
	s.nextID++
	n := s.nextID
	s.mu.Unlock()
	return fmt.Sprintf("auto-%x-%d", s.start.UnixNano()&0xFFFFFFFF, n)
}

// publish routes m to every matching subscription and stores it as retained
// when its retain flag is set. from is the publishing session (nil for the
// broker's own messages); alone says that nothing more waited in its read
// buffer (see session.deliver). It returns the number of matching
// subscriptions.
func (s *Server) publish(m *Message, from *session, alone bool) int {
	if m.Retain {
		if err := s.store.SetRetained(m); err != nil {
			s.logf(LogError, "Error: storing retained message on %s: %v", m.Topic, err)
		}
	}
	var buf [16]match
	matches := s.tree.match(m.Topic, buf[:0])
	if len(matches) == 0 {
		return 0
	}
	// One delivery per client for its ordinary subscriptions, at the
	// highest QoS with every subscription identifier [MQTT-3.3.4-2]
	// [MQTT-3.3.4-3]; each shared subscription delivers separately.
	type delivery struct {
		sess   *session
		qos    packet.QoS
		rap    bool
		subIDs []uint32
	}
	var dbuf [16]delivery
	ds := dbuf[:0]
	var index map[*session]int
	var shared []delivery
	now := time.Now()
	for _, mt := range matches {
		if mt.sub.NoLocal && from != nil && mt.sess == from {
			continue // [MQTT-3.8.3-3]
		}
		qos := min(m.QoS, mt.sub.QoS)
		if mt.shared {
			d := delivery{sess: mt.sess, qos: qos, rap: mt.sub.RetainAsPublished}
			if mt.sub.ID != 0 {
				d.subIDs = []uint32{mt.sub.ID}
			}
			shared = append(shared, d)
			continue
		}
		i := -1
		if index != nil {
			if j, ok := index[mt.sess]; ok {
				i = j
			}
		} else {
			for j := range ds {
				if ds[j].sess == mt.sess {
					i = j
					break
				}
			}
		}
		if i < 0 {
			ds = append(ds, delivery{sess: mt.sess})
			i = len(ds) - 1
			if index == nil && len(ds) > 16 {
				index = make(map[*session]int, len(matches))
				for j := range ds {
					index[ds[j].sess] = j
				}
			} else if index != nil {
				index[mt.sess] = i
			}
		}
		d := &ds[i]
		d.qos = max(d.qos, qos)
		d.rap = d.rap || mt.sub.RetainAsPublished
		if mt.sub.ID != 0 {
			d.subIDs = append(d.subIDs, mt.sub.ID)
		}
	}
	ds = append(ds, shared...)
	for _, d := range ds {
		// [MQTT-3.3.1-12] [MQTT-3.3.1-13]: the retain flag is kept only
		// with Retain As Published.
		d.sess.deliver(m, d.qos, m.Retain && d.rap, d.subIDs, now, alone)
	}
	return len(matches)
}

// sessionCount returns the number of sessions, connected or not.
func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
