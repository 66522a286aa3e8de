// Package bench is mqtool's MQTT load generator. It runs publishers and
// subscribers end to end against a broker, one run per QoS level, and
// measures throughput, loss, duplicates and latency (end to end and to the
// acknowledgement) in HdrHistograms, from the intended send time of an
// open-loop schedule so that a stalled broker cannot hide its latency
// (coordinated omission). bench returns results; package format renders
// them.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/packet"
)

// Pattern is how publishers and subscribers are wired by topic.
type Pattern int

// Patterns.
const (
	// Pair gives publisher i its own topic, subscribed by subscriber i
	// (subscriber j listens to publisher j mod publishers).
	Pair Pattern = iota
	// FanIn sends every publisher's messages to one topic that every
	// subscriber reads; usually many publishers, one subscriber.
	FanIn
	// FanOut is the same wiring as FanIn, usually one publisher and many
	// subscribers.
	FanOut
)

var patternNames = [...]string{"pair", "fan-in", "fan-out"}

// String returns the --pattern name of p.
func (p Pattern) String() string {
	if int(p) >= 0 && int(p) < len(patternNames) {
		return patternNames[p]
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// ParsePattern parses pair, fan-in or fan-out.
func ParsePattern(s string) (Pattern, error) {
	for i, n := range patternNames {
		if s == n {
			return Pattern(i), nil
		}
	}
	return 0, fmt.Errorf("bench: unknown pattern %q: want pair, fan-in or fan-out", s)
}

// ParseQoSList parses a comma-separated list of QoS levels such as "0,1,2".
func ParseQoSList(s string) ([]packet.QoS, error) {
	var qs []packet.QoS
	seen := map[packet.QoS]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 2 {
			return nil, fmt.Errorf("bench: QoS %q is not 0, 1 or 2", f)
		}
		q := packet.QoS(n)
		if !seen[q] {
			seen[q] = true
			qs = append(qs, q)
		}
	}
	return qs, nil
}

// Limits on load against a host that is not this machine (public test
// brokers are shared); Config.AllowShared lifts them.
const (
	SharedMaxClients = 10
	SharedMaxRate    = 100 // messages per second in total
	SharedMaxConnect = 10  // connections per second
)

// Config describes a bench run.
type Config struct {
	// Client is the template for every connection: URL, version, auth, TLS.
	// ClientID, CleanStart, OnMessage and MaxInflight are set by bench.
	Client client.Options
	// IDPrefix starts every client ID (default "mqtool-bench").
	IDPrefix    string
	Publishers  int
	Subscribers int
	Pattern     Pattern
	// Topic, if set, is a topic template: %i is the publisher's index, %c
	// its client ID. Subscriber j subscribes to publisher j's topic (j mod
	// publishers), or to Topic itself when it has no %.
	Topic string
	// Filter, if set, is what every subscriber subscribes to instead.
	Filter string
	QoS    []packet.QoS
	// Size is the payload size in bytes, at least HeaderSize.
	Size int
	// Rate is messages per second over all publishers; 0 sends as fast as
	// the inflight window allows: at QoS 1/2 unacknowledged messages, at
	// QoS 0 messages not yet delivered to every subscriber.
	Rate float64
	// Tick, if set, batches the wake-ups of a paced run: publishers wake
	// at most once a tick, each time sending every message that fell due
	// since (see Schedule.WithTick), and every client reads at most once a
	// tick while packets keep coming (client.Options.ReadInterval). Fewer
	// wake-ups, reads and writes cost less CPU per message at high rates;
	// the up to a tick a send or a delivery waits counts in the latency,
	// which runs from the intended time.
	Tick time.Duration
	// Procs, if not 0, is GOMAXPROCS for the run: how many threads run Go
	// code at once (see AutoProcs).
	Procs int
	// Inflight bounds each publisher's unacknowledged QoS 1/2 messages.
	Inflight int
	// Duration is the measured window after Warmup; 0 with Count set runs
	// until each publisher has sent Count messages.
	Duration time.Duration
	Warmup   time.Duration
	// Count, if not 0, is the number of messages each publisher sends.
	Count  uint64
	Retain bool
	// ConnectRate is new connections per second; 0 connects in parallel.
	ConnectRate float64
	// Drain is how long to wait for deliveries to stop after the last send
	// before counting what is missing as lost (default 1s of silence).
	Drain time.Duration
	// AllowShared lifts the limits that apply to non-loopback hosts.
	AllowShared bool
	// Progress, if set, is called about once a second from the run's own
	// goroutine.
	Progress func(Progress)
}

// Progress is a running run's state, for a live progress line.
type Progress struct {
	QoS      packet.QoS
	Phase    string // "warmup", "run" or "drain"
	Elapsed  time.Duration
	Sent     int64 // all messages so far, warm-up included
	Received int64
	SentRate float64 // over the last second
	RecvRate float64
	Behind   int64 // expected deliveries not yet received
	E2EP99   int64 // µs, last second; 0 when none
}

func (cfg *Config) defaults() {
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "mqtool-bench"
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = client.DefaultMaxInflight
	}
	if len(cfg.QoS) == 0 {
		cfg.QoS = []packet.QoS{0}
	}
	if cfg.Drain <= 0 {
		cfg.Drain = time.Second
	}
}

// Validate checks cfg, applying the limits for shared hosts. Errors are
// one line.
func (cfg *Config) Validate() error {
	cfg.defaults()
	switch {
	case cfg.Publishers < 1:
		return fmt.Errorf("bench: --publishers must be at least 1, not %d", cfg.Publishers)
	case cfg.Subscribers < 0:
		return fmt.Errorf("bench: --subscribers must be at least 0, not %d", cfg.Subscribers)
	case cfg.Size < HeaderSize:
		return fmt.Errorf("bench: --size %d is smaller than the %d-byte bench header", cfg.Size, HeaderSize)
	case cfg.Size > packet.MaxRemainingLength-1024:
		return fmt.Errorf("bench: --size %d is larger than an MQTT packet can carry", cfg.Size)
	case cfg.Rate < 0 || cfg.Rate != cfg.Rate:
		return fmt.Errorf("bench: --rate must be 0 or more, not %v", cfg.Rate)
	case cfg.ConnectRate < 0:
		return fmt.Errorf("bench: --connect-rate must be 0 or more, not %v", cfg.ConnectRate)
	case cfg.Tick < 0:
		return fmt.Errorf("bench: --tick must not be negative, not %v", cfg.Tick)
	case cfg.Procs < 0:
		return fmt.Errorf("bench: --procs must be at least 1, not %d", cfg.Procs)
	case cfg.Duration < 0 || cfg.Warmup < 0:
		return errors.New("bench: --duration and --warmup must not be negative")
	case cfg.Duration == 0 && cfg.Count == 0:
		return errors.New("bench: give --duration or --count")
	}
	for _, q := range cfg.QoS {
		if !q.Valid() {
			return fmt.Errorf("bench: QoS %d is not 0, 1 or 2", q)
		}
	}
	if cfg.Topic != "" {
		if err := packet.ValidTopicName(expand(cfg.Topic, 0, "id")); err != nil {
			return fmt.Errorf("bench: --topic %q: %w", cfg.Topic, err)
		}
	}
	if cfg.Filter != "" {
		if err := packet.ValidTopicFilter(cfg.Filter); err != nil {
			return fmt.Errorf("bench: --filter %q: %w", cfg.Filter, err)
		}
	}
	local, err := IsLocal(cfg.Client.URL)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if !local && !cfg.AllowShared {
		if n := cfg.Publishers + cfg.Subscribers; n > SharedMaxClients {
			return fmt.Errorf("bench: %d clients against a remote broker; at most %d without --i-know-its-shared", n, SharedMaxClients)
		}
		if cfg.Rate == 0 {
			cfg.Rate = SharedMaxRate
		}
		if cfg.Rate > SharedMaxRate {
			return fmt.Errorf("bench: --rate %v against a remote broker; at most %d msg/s without --i-know-its-shared", cfg.Rate, SharedMaxRate)
		}
		if cfg.ConnectRate == 0 || cfg.ConnectRate > SharedMaxConnect {
			cfg.ConnectRate = SharedMaxConnect
		}
	}
	return nil
}

// IsLocal reports whether url names this machine: a unix socket, localhost
// or a loopback address. Other host names count as remote without a DNS
// lookup.
func IsLocal(url string) (bool, error) {
	e, err := client.ParseURL(url)
	if err != nil {
		return false, err
	}
	if e.Transport == client.Unix || strings.EqualFold(e.Host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(e.Host)
	return ip != nil && ip.IsLoopback(), nil
}

// AutoProcs returns the GOMAXPROCS bench should run with against the broker
// at url when the user chose none: 0 (keep the runtime's) when $GOMAXPROCS
// is set or the broker is elsewhere, else half the CPUs the runtime would
// use, at least 1. A broker on the same machine needs CPU too, and with
// fewer threads the runtime wakes fewer of them per message: on 2 cores
// against mosquitto at full speed, 1 instead of 2 cut bench's CPU per
// message by a quarter to a third, and mosquitto, at about 95% of its one
// core, rather than bench became the limit.
func AutoProcs(url string) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0
	}
	if local, err := IsLocal(url); err != nil || !local {
		return 0
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// expand fills a topic template: %i the index, %c the client ID, %% a %.
func expand(tpl string, i int, id string) string {
	if !strings.Contains(tpl, "%") {
		return tpl
	}
	var b strings.Builder
	for k := 0; k < len(tpl); k++ {
		if tpl[k] == '%' && k+1 < len(tpl) {
			switch tpl[k+1] {
			case 'i':
				b.WriteString(strconv.Itoa(i))
				k++
				continue
			case 'c':
				b.WriteString(id)
				k++
				continue
			case '%':
				b.WriteByte('%')
				k++
				continue
			}
		}
		b.WriteByte(tpl[k])
	}
	return b.String()
}

func newRunID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1
}

// Run runs cfg once per QoS level. It returns the result so far together
// with an error when the run could not complete (unreachable broker, lost
// connection); losses and duplicates are in the result, not the error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Procs))
	}
	runID := newRunID()
	res := &Result{
		Format:  ResultFormat,
		RunID:   fmt.Sprintf("%016x", runID),
		Target:  cfg.Client.URL,
		Started: time.Now().UTC(),
		Config: RunSettings{
			Publishers: cfg.Publishers, Subscribers: cfg.Subscribers, Topic: cfg.Topic,
			Size: cfg.Size, Rate: cfg.Rate, Inflight: cfg.Inflight,
			Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
			Count: cfg.Count, Retain: cfg.Retain, Tick: cfg.Tick.String(), Procs: runtime.GOMAXPROCS(0),
		},
	}
	if res.Config.Topic == "" {
		res.Config.Topic = cfg.Pattern.String()
	}
	for _, q := range cfg.QoS {
		r := &run{cfg: &cfg, qos: q, id: runID}
		qr, err := r.do(ctx)
		res.Runs = append(res.Runs, qr)
		if err != nil {
			res.Error = err.Error()
			return res, err
		}
	}
	return res, nil
}

// run is one QoS level's run.
type run struct {
	cfg *Config
	qos packet.QoS
	id  uint64
	clk monoClock

	// The measured window, [warmupEnd, windowEnd) on the run's clock, set
	// once the clients are connected. Sends and deliveries count in it by
	// when they happen; latencies are of the messages intended in it.
	warmupEnd atomic.Int64
	windowEnd atomic.Int64
	draining  atomic.Bool
	pubs      []*publisher
	subs      []*subscriber

	failOnce sync.Once
	failErr  error
	cancel   context.CancelFunc
}

type publisher struct {
	idx   int
	id    string
	topic string
	c     *client.Client
	// slots is the QoS 1/2 inflight window: a send takes a slot, its
	// acknowledgement gives it back.
	slots chan *slot

	total     atomic.Int64 // every message handed to the client
	sent      atomic.Int64 // sends in the measured window
	sentBytes atomic.Int64
	late      atomic.Int64
	failed    atomic.Int64
	secSent   atomic.Int64
	secLate   atomic.Int64

	mu               sync.Mutex // guards the histograms
	ack, ackU, ackIv *hdrhistogram.Histogram

	// heard[k] is one more than the highest sequence the k-th subscriber
	// routed to this publisher has received: unpaced QoS 0 sends wait while
	// the slowest of them is a window behind (see waitHeard).
	heard   []atomic.Uint64
	waiting atomic.Bool
	wake    chan struct{}
}

type subscriber struct {
	idx    int
	id     string
	filter string
	c      *client.Client
	from   []int // publishers whose topic the filter matches
	slot   []int // slot[i]: this subscriber's index in pubs[i].heard, or -1

	// group, for a shared subscription, is where loss and duplicates are
	// counted; seq then only counts reordering.
	group *shareGroup
	// counts is whether the deliveries expected from from count for this
	// subscriber: for all but the later members of a shared subscription,
	// whose group gets each message once.
	counts bool

	mu        sync.Mutex    // guards everything below
	seq       []*seqTracker // by publisher, made on its first message
	received  int64         // unique deliveries in the measured window
	lastRecv  time.Duration
	recvBytes int64
	delivered int64 // unique, whole run
	dup       int64
	foreign   int64
	secRecv   int64
	e2e, e2eU *hdrhistogram.Histogram
	e2eIv     *hdrhistogram.Histogram
}

// shareGroup is the subscribers of one shared subscription: each message
// goes to one of them [MQTT-4.8.2], so whether it was lost or duplicated is
// a matter for the group. Its mu is taken with a member's mu held.
type shareGroup struct {
	mu  sync.Mutex
	seq []*seqTracker // by publisher, made on its first message
}

// track records seq from publisher pub for the group, reporting whether a
// member had it already, and updates the group's heard slot of p (k < 0:
// none) under the group's lock, so that members' updates keep it rising.
func (g *shareGroup) track(p *publisher, pub int, seq uint64, k int) (dup bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	tr := g.seq[pub]
	if tr == nil {
		tr = &seqTracker{}
		g.seq[pub] = tr
	}
	if tr.add(seq) {
		return true
	}
	if k >= 0 {
		p.hear(k, seq)
	}
	return false
}

// addLoss adds to expected and lost the deliveries s should have had and
// missed: its own, or its shared subscription's group's. Called with s.mu
// held.
func (s *subscriber) addLoss(r *run, expected, lost int64) (int64, int64) {
	seq := s.seq
	if g := s.group; g != nil {
		// Another member may still be recording a late delivery.
		g.mu.Lock()
		defer g.mu.Unlock()
		seq = g.seq
	}
	for _, i := range s.from {
		n := r.pubs[i].total.Load()
		expected += n
		tr := seq[i]
		if tr == nil {
			tr = &seqTracker{}
		}
		lost += int64(tr.lost(uint64(n)))
	}
	return expected, lost
}

// hear records that the subscriber in heard slot k has seq, waking a send
// waiting for it.
func (p *publisher) hear(k int, seq uint64) {
	if seq+1 > p.heard[k].Load() {
		p.heard[k].Store(seq + 1)
		if p.waiting.Load() {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (r *run) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		r.cancel()
	})
}

func (r *run) clientID(kind byte, i int) string {
	return fmt.Sprintf("%s-%x-q%d-%c%d", r.cfg.IDPrefix, r.id&0xffffffff, r.qos, kind, i)
}

// topics sets every publisher's topic and every subscriber's filter and
// the routing between them.
func (r *run) topics() {
	cfg := r.cfg
	base := fmt.Sprintf("mqtool/bench/%016x/q%d", r.id, r.qos)
	for i, p := range r.pubs {
		switch {
		case cfg.Topic != "":
			p.topic = expand(cfg.Topic, i, p.id)
		case cfg.Pattern == Pair:
			p.topic = base + "/" + strconv.Itoa(i)
		default:
			p.topic = base + "/all"
		}
	}
	// The members of a shared subscription share a group and, per
	// publisher, one heard slot.
	type shared struct {
		group *shareGroup
		slot  []int
	}
	groups := map[string]*shared{}
	for j, s := range r.subs {
		k := j % len(r.pubs)
		switch {
		case cfg.Filter != "":
			s.filter = cfg.Filter
		case cfg.Topic != "":
			s.filter = expand(cfg.Topic, k, r.pubs[k].id)
		case cfg.Pattern == Pair:
			s.filter = r.pubs[k].topic
		default:
			s.filter = base + "/all"
		}
		var sh *shared
		s.counts = true
		if packet.IsShared(s.filter) {
			if sh = groups[s.filter]; sh == nil {
				sh = &shared{group: &shareGroup{seq: make([]*seqTracker, len(r.pubs))}, slot: make([]int, len(r.pubs))}
				for i := range sh.slot {
					sh.slot[i] = -1
				}
				groups[s.filter] = sh
			} else {
				s.counts = false
			}
			s.group = sh.group
		}
		s.slot = make([]int, len(r.pubs))
		for i, p := range r.pubs {
			s.slot[i] = -1
			if !packet.Match(s.filter, p.topic) {
				continue
			}
			s.from = append(s.from, i)
			if sh != nil && sh.slot[i] >= 0 {
				s.slot[i] = sh.slot[i]
				continue
			}
			s.slot[i] = len(p.heard)
			p.heard = append(p.heard, atomic.Uint64{})
			if sh != nil {
				sh.slot[i] = s.slot[i]
			}
		}
	}
}

func (r *run) do(ctx context.Context) (QoSRun, error) {
	cfg := r.cfg
	out := QoSRun{QoS: int(r.qos)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.cancel = cancel

	for i := range cfg.Publishers {
		r.pubs = append(r.pubs, &publisher{idx: i, id: r.clientID('p', i),
			ack: newHist(), ackU: newHist(), ackIv: newHist(), wake: make(chan struct{}, 1)})
	}
	for j := range cfg.Subscribers {
		r.subs = append(r.subs, &subscriber{idx: j, id: r.clientID('s', j), seq: make([]*seqTracker, cfg.Publishers),
			e2e: newHist(), e2eU: newHist(), e2eIv: newHist()})
	}
	for _, p := range r.pubs {
		p.slots = make(chan *slot, cfg.Inflight)
		for range cfg.Inflight {
			sl := &slot{r: r, p: p}
			sl.done = sl.complete
			p.slots <- sl
		}
	}
	r.topics()
	r.clk = monoClock{epoch: time.Now()}
	r.warmupEnd.Store(math.MaxInt64)
	r.windowEnd.Store(math.MaxInt64)
	defer r.closeAll()

	if err := r.connect(ctx); err != nil {
		return out, err
	}
	var watch sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	r.watch(watchCtx, &watch)

	cpu := startCPU()
	start := r.clk.Now() + 10*time.Millisecond // let every publisher reach its first send
	warmupEnd := start + cfg.Warmup
	end := time.Duration(0)
	if cfg.Duration > 0 {
		end = warmupEnd + cfg.Duration
		r.windowEnd.Store(int64(end))
	}
	r.warmupEnd.Store(int64(warmupEnd))

	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	var series []Second
	go func() {
		defer close(tickDone)
		series = r.ticker(tickStop)
	}()

	var pubWG sync.WaitGroup
	for _, p := range r.pubs {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			if err := r.publish(ctx, p, start, end); err != nil && ctx.Err() == nil {
				r.fail(err)
			}
		}()
	}
	pubWG.Wait()
	pubEnd := r.clk.Now()
	if ctx.Err() == nil {
		r.draining.Store(true)
		r.drain(ctx)
	}
	windowEnd := pubEnd
	if end > 0 && ctx.Err() == nil {
		windowEnd = end
	}
	close(tickStop)
	<-tickDone
	stopWatch()
	watch.Wait()
	out.CPU = cpu.stop()

	if cfg.Duration == 0 {
		// A count run's window ends with its last delivery.
		for _, s := range r.subs {
			s.mu.Lock()
			windowEnd = max(windowEnd, s.lastRecv)
			s.mu.Unlock()
		}
	}
	out.Seconds = max(windowEnd-warmupEnd, 0).Seconds()
	r.collect(&out)
	out.Series = series
	out.rates()
	if r.failErr != nil {
		out.Error = r.failErr.Error()
		return out, r.failErr
	}
	if err := ctx.Err(); err != nil {
		err = fmt.Errorf("bench: qos %d: %w", r.qos, err)
		out.Error = err.Error()
		return out, err
	}
	r.finish(ctx)
	return out, nil
}

// connect dials every subscriber (and subscribes) and then every
// publisher, at cfg.ConnectRate if set, 32 handshakes at a time.
func (r *run) connect(ctx context.Context) error {
	type job struct {
		name string
		opts client.Options
		set  func(*client.Client)
		sub  *subscriber
	}
	var subJobs, pubJobs []job
	readInterval := time.Duration(0)
	if r.cfg.Rate > 0 {
		// Paced: read on the tick too. Unpaced, acknowledgements read once
		// a tick would cap each publisher at a window a tick.
		readInterval = r.cfg.Tick
	}
	for _, s := range r.subs {
		o := r.cfg.Client
		o.ClientID, o.CleanStart = s.id, true
		o.OnMessage = s.onMessage(r)
		o.ReadInterval = readInterval
		subJobs = append(subJobs, job{name: fmt.Sprintf("subscriber %d", s.idx), opts: o, set: func(c *client.Client) { s.c = c }, sub: s})
	}
	for _, p := range r.pubs {
		o := r.cfg.Client
		o.ClientID, o.CleanStart = p.id, true
		o.MaxInflight = r.cfg.Inflight
		o.ReadInterval = readInterval
		o.OnMessage = nil
		pubJobs = append(pubJobs, job{name: fmt.Sprintf("publisher %d", p.idx), opts: o, set: func(c *client.Client) { p.c = c }})
	}
	interval := time.Duration(0)
	if r.cfg.ConnectRate > 0 {
		interval = time.Duration(float64(time.Second) / r.cfg.ConnectRate)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := time.Now()
	// Subscribers first, so every subscription exists before anyone publishes.
	for _, j := range slices.Concat(subJobs, []job{{}}, pubJobs) {
		if j.set == nil {
			wg.Wait()
			continue
		}
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			next = next.Add(interval)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := func() error {
				c, err := client.Dial(ctx, j.opts)
				if err != nil {
					return err
				}
				j.set(c)
				if j.sub != nil {
					sa, err := c.Subscribe(ctx, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: j.sub.filter, QoS: r.qos}}})
					if err != nil {
						return err
					}
					if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] >= 0x80 {
						return fmt.Errorf("subscribe to %q refused: %v", j.sub.filter, sa.ReasonCodes)
					}
				}
				return nil
			}()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("bench: qos %d: connect %s: %w", r.qos, j.name, err)
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("bench: qos %d: connect: %w", r.qos, ctx.Err())
	}
	return first
}

// watch fails the run when a connection ends before the run closes it.
func (r *run) watch(ctx context.Context, wg *sync.WaitGroup) {
	w := func(name string, c *client.Client) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-c.Done():
				r.fail(r.lost(name, c))
			case <-ctx.Done():
			}
		}()
	}
	for _, s := range r.subs {
		w(fmt.Sprintf("subscriber %d", s.idx), s.c)
	}
	for _, p := range r.pubs {
		w(fmt.Sprintf("publisher %d", p.idx), p.c)
	}
}

// lost is the error for a connection that ended before the run closed it,
// the same whichever goroutine notices first.
func (r *run) lost(name string, c *client.Client) error {
	err := c.Err()
	if err == nil {
		err = errors.New("closed")
	}
	return fmt.Errorf("bench: qos %d: %s lost its connection: %w", r.qos, name, err)
}

// busyIncoming is the rate of packets from the broker, per second, above
// which the process is woken often enough (every 25 µs on average) for Go's
// timers to be on time, so paced publishers sleep with them alone: a
// timerfd (package hrtimer) would add a system call and a wake-up per send,
// about a sixth of bench's CPU at 60,000 msg/s on the development machine,
// for no better timing. With --tick the clients read once a tick, so the
// process is not woken by each packet and publishers always use a timerfd.
const busyIncoming = 40000

// incomingRate is the number of packets per second a paced run expects from
// the broker: deliveries to its subscribers (PUBLISH, and PUBREL at QoS 2)
// and acknowledgements to its publishers (PUBACK; PUBREC and PUBCOMP).
func (r *run) incomingRate() float64 {
	if len(r.pubs) == 0 {
		return 0
	}
	routes := 0
	for _, s := range r.subs {
		if s.counts {
			routes += len(s.from)
		}
	}
	perPub := r.cfg.Rate / float64(len(r.pubs))
	perDelivery := [3]float64{1, 1, 2}[r.qos]
	acks := [3]float64{0, 1, 2}[r.qos]
	return perPub*float64(routes)*perDelivery + r.cfg.Rate*acks
}

func (r *run) publish(ctx context.Context, p *publisher, start, end time.Duration) error {
	sched := NewSchedule(start, r.cfg.Rate, len(r.pubs), p.idx).WithTick(r.cfg.Tick)
	clk := r.clk
	if sched.Paced() && (r.cfg.Tick > 0 || r.incomingRate() < busyIncoming) {
		var release func()
		clk, release = r.clk.withTimer()
		defer release()
	}
	buf := make([]byte, r.cfg.Size)
	for i := HeaderSize; i < len(buf); i++ {
		buf[i] = byte('a' + i%26)
	}
	if !sched.Paced() {
		if d := start - clk.Now(); d > 0 {
			if err := clk.Sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	// A send held back by the tick is not behind schedule.
	lateAfter := LateAfter + r.cfg.Tick
	qos := r.qos
	closedLoop := qos == 0 && !sched.Paced() && len(p.heard) > 0
	warmupEnd := time.Duration(r.warmupEnd.Load())
	windowEnd := time.Duration(r.windowEnd.Load())
	// A send still waiting for room or a window slot when the measured
	// window closes is abandoned: the run ends on time however far the
	// broker fell behind.
	sctx := ctx
	if end > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, r.clk.epoch.Add(end))
		defer cancel()
	}
	pk := &packet.Publish{QoS: qos, Retain: r.cfg.Retain, Topic: p.topic, Payload: buf}
	err := sched.pace(sctx, clk, end, r.cfg.Count, func(k uint64, intended time.Duration) error {
		var sl *slot
		if qos > 0 {
			select {
			case sl = <-p.slots:
			case <-sctx.Done():
				return sctx.Err()
			}
		}
		if closedLoop {
			if err := p.waitHeard(sctx, k, uint64(r.cfg.Inflight), stallAfter); err != nil {
				return err
			}
		}
		sent := r.clk.Now()
		if intended < 0 {
			intended = sent
		}
		measured := intended >= warmupEnd
		if measured && sent-intended > lateAfter {
			p.late.Add(1)
			p.secLate.Add(1)
		}
		h := Header{RunID: r.id, Publisher: uint32(p.idx), Seq: k, Intended: int64(intended), Sent: int64(sent)}
		_ = h.Encode(buf) // Validate checked the size
		var done func(error)
		if sl != nil {
			sl.intended, sl.sent, sl.measured = intended, sent, measured
			done = sl.done
		}
		// The client copies pk into its write queue before returning.
		err := p.c.PublishAsync(sctx, pk, done)
		if err != nil {
			if sl != nil {
				p.slots <- sl
			}
			if sctx.Err() != nil {
				return sctx.Err()
			}
			select {
			case <-p.c.Done():
				return r.lost(fmt.Sprintf("publisher %d", p.idx), p.c)
			default:
			}
			return fmt.Errorf("bench: qos %d: publisher %d: %w", qos, p.idx, err)
		}
		p.total.Add(1)
		if sent >= warmupEnd && sent < windowEnd {
			p.sent.Add(1)
			p.sentBytes.Add(int64(len(buf)))
			p.secSent.Add(1)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && sctx.Err() != nil {
		return nil // the window closed
	}
	return err
}

// slot is one place in a publisher's QoS 1/2 inflight window, reused so a
// send allocates nothing.
type slot struct {
	r              *run
	p              *publisher
	intended, sent time.Duration
	measured       bool
	done           func(error) // complete, bound once
}

// complete records the acknowledgement of the slot's message and frees
// the slot. The client calls it from its read goroutine.
func (sl *slot) complete(err error) {
	now := sl.r.clk.Now()
	p, intended, sent, measured := sl.p, sl.intended, sl.sent, sl.measured
	p.slots <- sl
	if err != nil {
		p.failed.Add(1)
		return
	}
	if measured {
		p.mu.Lock()
		record(p.ack, now-intended)
		record(p.ackU, now-sent)
		record(p.ackIv, now-intended)
		p.mu.Unlock()
	}
}

// stallAfter is how long an unpaced QoS 0 publisher waits for its window
// to open before it takes the missing messages as lost and sends anyway.
const stallAfter = 100 * time.Millisecond

// waitHeard waits, before send k, until every subscriber of p has received
// a message at or after k-window: at QoS 0 there is no acknowledgement, so
// "as fast as the inflight window allows" counts messages not yet
// delivered. Without it an unpaced publisher fills the socket buffers and
// measures the backlog, not the broker. It gives up after stall (stallAfter
// in a run).
func (p *publisher) waitHeard(ctx context.Context, k, window uint64, stall time.Duration) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if p.slowest()+window > k {
			return nil
		}
		p.waiting.Store(true)
		if p.slowest()+window > k {
			p.waiting.Store(false)
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(stall)
		}
		select {
		case <-p.wake:
			p.waiting.Store(false)
		case <-timer.C:
			p.waiting.Store(false)
			return nil
		case <-ctx.Done():
			p.waiting.Store(false)
			return ctx.Err()
		}
	}
}

func (p *publisher) slowest() uint64 {
	m := uint64(math.MaxUint64)
	for i := range p.heard {
		m = min(m, p.heard[i].Load())
	}
	return m
}

func (s *subscriber) onMessage(r *run) func(*packet.Publish) {
	return func(m *packet.Publish) {
		now := r.clk.Now()
		h, err := DecodeHeader(m.Payload)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil || h.RunID != r.id || int(h.Publisher) >= len(s.seq) {
			s.foreign++
			return
		}
		tr := s.seq[h.Publisher]
		if tr == nil {
			tr = &seqTracker{}
			s.seq[h.Publisher] = tr
		}
		if g := s.group; g != nil {
			if g.track(r.pubs[h.Publisher], int(h.Publisher), h.Seq, s.slot[h.Publisher]) {
				s.dup++
				return
			}
			tr.add(h.Seq) // the member's own order
		} else {
			if tr.add(h.Seq) {
				s.dup++
				return
			}
			if k := s.slot[h.Publisher]; k >= 0 {
				r.pubs[h.Publisher].hear(k, h.Seq)
			}
		}
		s.delivered++
		if int64(now) >= r.warmupEnd.Load() && int64(now) < r.windowEnd.Load() {
			s.received++
			s.secRecv++
			s.recvBytes += int64(len(m.Payload))
			s.lastRecv = now
		}
		if h.Intended >= r.warmupEnd.Load() {
			record(s.e2e, now-time.Duration(h.Intended))
			record(s.e2eU, now-time.Duration(h.Sent))
			record(s.e2eIv, now-time.Duration(h.Intended))
		}
	}
}

// expected returns how many deliveries the subscribers should get in all.
func (r *run) expected() (want, got int64) {
	for _, s := range r.subs {
		if s.counts {
			for _, i := range s.from {
				want += r.pubs[i].total.Load()
			}
		}
		s.mu.Lock()
		got += s.delivered
		s.mu.Unlock()
	}
	return want, got
}

// maxDrain bounds the wait for deliveries after the last send, however
// steadily a backlog trickles in.
const maxDrain = 10 * time.Second

// drain waits for outstanding acknowledgements and deliveries: until all
// expected messages arrived, nothing arrived for cfg.Drain, or maxDrain.
func (r *run) drain(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(max(maxDrain, r.cfg.Drain))
	lastGot, lastInflight, lastChange := int64(-1), -1, time.Now()
	for {
		inflight := 0
		for _, p := range r.pubs {
			inflight += cap(p.slots) - len(p.slots)
		}
		want, got := r.expected()
		if got >= want && inflight == 0 {
			return
		}
		if got != lastGot || inflight != lastInflight {
			lastGot, lastInflight, lastChange = got, inflight, time.Now()
		} else if time.Since(lastChange) > r.cfg.Drain {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// ticker takes a per-second sample of the measured window until stop is
// closed, and reports progress.
func (r *run) ticker(stop <-chan struct{}) []Second {
	var series []Second
	var prevSent, prevRecv int64
	prevAt := r.clk.Now()
	warmupEnd := time.Duration(r.warmupEnd.Load())
	// Ticks fall on whole seconds from the end of the warm-up, so each
	// sample of the series is one second of the measured window.
	next := warmupEnd - r.cfg.Warmup.Truncate(time.Second)
	for next <= prevAt {
		next += time.Second
	}
	t := time.NewTimer(next - prevAt)
	defer t.Stop()
	for {
		final := false
		select {
		case <-stop:
			final = true
		case <-t.C:
		}
		now := r.clk.Now()
		boundary := next
		if !final {
			next += time.Second
			t.Reset(next - now)
		}
		// Before the window opens there is nothing measured to take; what
		// happened since it opened belongs to the first second.
		measured := final || boundary > warmupEnd
		sec := Second{T: len(series)}
		e2e, ack := newHist(), newHist()
		var total, got int64
		for _, p := range r.pubs {
			total += p.total.Load()
			if !measured {
				continue
			}
			sec.Sent += p.secSent.Swap(0)
			sec.Late += p.secLate.Swap(0)
			p.mu.Lock()
			ack.Merge(p.ackIv)
			p.ackIv.Reset()
			p.mu.Unlock()
		}
		for _, s := range r.subs {
			s.mu.Lock()
			got += s.delivered
			if measured {
				sec.Received += s.secRecv
				s.secRecv = 0
				e2e.Merge(s.e2eIv)
				s.e2eIv.Reset()
			}
			s.mu.Unlock()
		}
		if e2e.TotalCount() > 0 {
			sec.E2EP50, sec.E2EP99, sec.E2EMax = e2e.ValueAtQuantile(50), e2e.ValueAtQuantile(99), e2e.Max()
		}
		if ack.TotalCount() > 0 {
			sec.AckP50, sec.AckP99 = ack.ValueAtQuantile(50), ack.ValueAtQuantile(99)
		}
		if final {
			// The last part-second, if anything happened in it.
			if sec.Sent+sec.Received > 0 {
				series = append(series, sec)
			}
			return series
		}
		if measured {
			series = append(series, sec)
		}
		if r.cfg.Progress != nil {
			want, _ := r.expected()
			dt := (now - prevAt).Seconds()
			phase := "run"
			switch {
			case now < warmupEnd:
				phase = "warmup"
			case r.draining.Load():
				phase = "drain"
			}
			r.cfg.Progress(Progress{
				QoS: r.qos, Phase: phase, Elapsed: now, Sent: total, Received: got,
				SentRate: float64(total-prevSent) / dt, RecvRate: float64(got-prevRecv) / dt,
				Behind: max(want-got, 0), E2EP99: sec.E2EP99,
			})
		}
		prevSent, prevRecv, prevAt = total, got, now
	}
}

// collect fills out's counts and latencies.
func (r *run) collect(out *QoSRun) {
	ack, ackU, e2e, e2eU := newHist(), newHist(), newHist(), newHist()
	for _, p := range r.pubs {
		out.Published += p.total.Load()
		out.Sent += p.sent.Load()
		out.SentBytes += p.sentBytes.Load()
		out.Late += p.late.Load()
		out.Failed += p.failed.Load()
		p.mu.Lock()
		ack.Merge(p.ack)
		ackU.Merge(p.ackU)
		p.mu.Unlock()
	}
	for _, s := range r.subs {
		s.mu.Lock()
		out.Received += s.received
		out.RecvBytes += s.recvBytes
		out.Delivered += s.delivered
		out.Dup += s.dup
		out.Foreign += s.foreign
		if s.counts {
			out.Expected, out.Lost = s.addLoss(r, out.Expected, out.Lost)
		}
		for _, tr := range s.seq {
			if tr != nil {
				out.Reordered += int64(tr.reordered)
			}
		}
		e2e.Merge(s.e2e)
		e2eU.Merge(s.e2eU)
		s.mu.Unlock()
	}
	out.E2E, out.E2EUncorrected = summarize(e2e), summarize(e2eU)
	out.Ack, out.AckUncorrected = summarize(ack), summarize(ackU)
}

// finish disconnects cleanly and clears retained messages.
func (r *run) finish(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, s := range r.subs {
		if s.c != nil {
			_ = s.c.Disconnect(ctx, nil)
		}
	}
	if r.cfg.Retain {
		for _, p := range r.pubs {
			if p.c != nil {
				_ = p.c.Publish(ctx, &packet.Publish{QoS: packet.AtLeastOnce, Retain: true, Topic: p.topic})
			}
		}
	}
	for _, p := range r.pubs {
		if p.c != nil {
			_ = p.c.Disconnect(ctx, nil)
		}
	}
}

// closeAll closes whatever is still open and waits for the clients to end.
func (r *run) closeAll() {
	var cs []*client.Client
	for _, s := range r.subs {
		if s.c != nil {
			cs = append(cs, s.c)
		}
	}
	for _, p := range r.pubs {
		if p.c != nil {
			cs = append(cs, p.c)
		}
	}
	for _, c := range cs {
		_ = c.Close()
	}
	for _, c := range cs {
		<-c.Done()
	}
}
