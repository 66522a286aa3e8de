package broker

import (
	"context"
	"maps"
	"math"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// housekeeping publishes $SYS every SysInterval until ctx ends.
func (s *Server) housekeeping(ctx context.Context) {
	if s.opts.SysInterval < 0 {
		<-ctx.Done()
		return
	}
	s.publishSys()
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.publishSys()
		}
	}
}

// loadTopics are the counters mosquitto reports moving averages of, under
// $SYS/broker/load/.
var loadTopics = [...]string{
	"messages/received", "messages/sent",
	"publish/dropped", "publish/received", "publish/sent",
	"bytes/received", "bytes/sent",
	"connections", "sockets",
}

// loadWindows are the averaging windows, in seconds, with their topic
// suffixes.
var loadWindows = [...]struct {
	name string
	secs float64
}{{"1min", 60}, {"5min", 300}, {"15min", 900}}

// sysLoad is the state behind $SYS/broker/load/, heap/maximum and the
// store count; publishSys holds Server.sysMu while it uses it.
type sysLoad struct {
	at      time.Time // when count was taken
	count   [len(loadTopics)]int64
	avg     [len(loadTopics)][len(loadWindows)]float64
	ready   bool // avg has been computed once: mosquitto waits for two samples
	heapMax uint64
	round   uint32            // of the store count, for Message.counted
	sent    map[string]string // the last value published on each topic
}

// update folds the counts taken at now into the moving averages: each is a
// rate per minute, averaged exponentially over its window, as a load
// average is, so that a steady rate r per minute reads r in every window
// once the window has passed.
func (l *sysLoad) update(now time.Time, count [len(loadTopics)]int64) {
	if l.at.IsZero() {
		l.at, l.count = now, count
		return
	}
	dt := now.Sub(l.at).Seconds()
	if dt <= 0 {
		return // the counts in between go into the next update
	}
	for i := range count {
		rate := float64(count[i]-l.count[i]) * 60 / dt
		for j, w := range loadWindows {
			keep := math.Exp(-dt / w.secs)
			l.avg[i][j] = rate + keep*(l.avg[i][j]-rate)
		}
	}
	l.at, l.count, l.ready = now, count, true
}

// heapBytes returns the bytes of live and not yet swept heap objects, the
// nearest Go has to mosquitto's heap/current.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// storeCounts returns mosquitto's message store figures: the messages
// held, retained or queued or awaiting acknowledgement for a session, each
// counted once however many sessions hold it, with their payload bytes.
// The session table is locked only to copy it.
func (s *Server) storeCounts(l *sysLoad) (held, bytes int64) {
	l.round++
	count := func(m *Message) {
		if atomic.SwapUint32(&m.counted, l.round) != l.round {
			held++
			bytes += int64(len(m.Payload))
		}
	}
	if err := s.store.EachRetained(func(m *Message) bool { count(m); return true }); err != nil {
		s.logf(LogError, "Error: counting retained messages: %v", err)
	}
	s.mu.Lock()
	sessions := slices.Collect(maps.Values(s.sessions))
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.mu.Lock()
		for _, sm := range ss.queue {
			count(sm.Msg)
		}
		for _, sm := range ss.inflight {
			count(sm.Msg)
		}
		ss.mu.Unlock()
	}
	return held, bytes
}

// publishSys publishes the broker's counters as retained messages with
// mosquitto's topic names (mosquitto(8), BROKER STATUS).
func (s *Server) publishSys() {
	s.sysMu.Lock()
	defer s.sysMu.Unlock()
	st := &s.stats
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	total := int64(s.sessionCount())
	connected := st.connected.Load()
	retained := int64(s.store.RetainedCount())
	l := &s.load
	held, heldBytes := s.storeCounts(l)
	heap := heapBytes()
	l.heapMax = max(l.heapMax, heap)
	l.update(time.Now(), [len(loadTopics)]int64{
		st.msgsReceived.Load(), st.msgsSent.Load(),
		st.pubDrops.Load(), st.pubReceived.Load(), st.pubSent.Load(),
		st.bytesReceived.Load(), st.bytesSent.Load(),
		st.connects.Load(), st.sockets.Load(),
	})
	values := []struct{ topic, value string }{
		{"$SYS/broker/version", "mqtool version " + s.opts.Version},
		{"$SYS/broker/uptime", i64(int64(time.Since(s.start)/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", i64(connected)},
		{"$SYS/broker/clients/active", i64(connected)},
		{"$SYS/broker/clients/disconnected", i64(max(total-connected, 0))},
		{"$SYS/broker/clients/inactive", i64(max(total-connected, 0))},
		{"$SYS/broker/clients/total", i64(max(total, connected))},
		{"$SYS/broker/clients/maximum", i64(st.maximum.Load())},
		{"$SYS/broker/clients/expired", i64(st.expired.Load())},
		{"$SYS/broker/messages/received", i64(st.msgsReceived.Load())},
		{"$SYS/broker/messages/sent", i64(st.msgsSent.Load())},
		{"$SYS/broker/messages/stored", i64(held)},
		{"$SYS/broker/store/messages/count", i64(held)},
		{"$SYS/broker/store/messages/bytes", i64(heldBytes)},
		{"$SYS/broker/publish/messages/received", i64(st.pubReceived.Load())},
		{"$SYS/broker/publish/messages/sent", i64(st.pubSent.Load())},
		{"$SYS/broker/publish/messages/dropped", i64(st.pubDrops.Load())},
		{"$SYS/broker/publish/bytes/received", i64(st.pubBytesReceived.Load())},
		{"$SYS/broker/publish/bytes/sent", i64(st.pubBytesSent.Load())},
		{"$SYS/broker/bytes/received", i64(st.bytesReceived.Load())},
		{"$SYS/broker/bytes/sent", i64(st.bytesSent.Load())},
		{"$SYS/broker/retained messages/count", i64(retained)},
		{"$SYS/broker/subscriptions/count", i64(int64(s.tree.len()))},
		{"$SYS/broker/shared_subscriptions/count", i64(int64(s.tree.sharedLen()))},
		{"$SYS/broker/heap/current", strconv.FormatUint(heap, 10)},
		{"$SYS/broker/heap/maximum", strconv.FormatUint(l.heapMax, 10)},
	}
	for i, t := range loadTopics {
		for j, w := range loadWindows {
			if !l.ready {
				break
			}
			values = append(values, struct{ topic, value string }{
				"$SYS/broker/load/" + t + "/" + w.name, strconv.FormatFloat(l.avg[i][j], 'f', 2, 64)})
		}
	}
	if l.sent == nil {
		l.sent = map[string]string{}
	}
	// Like mosquitto, only values that changed are published again; they
	// are retained, so a new subscriber gets them all.
	for _, v := range values {
		if old, ok := l.sent[v.topic]; ok && old == v.value {
			continue
		}
		l.sent[v.topic] = v.value
		s.publish(&Message{Topic: v.topic, Payload: []byte(v.value), Retain: true}, nil, false)
	}
}
