package broker

import (
	"context"
	"strconv"
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

// publishSys publishes the broker's counters as retained messages with
// mosquitto's topic names.
func (s *Server) publishSys() {
	st := &s.stats
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	total := int64(s.sessionCount())
	connected := st.connected.Load()
	values := []struct{ topic, value string }{
		{"$SYS/broker/version", "mqtool version " + s.opts.Version},
		{"$SYS/broker/uptime", i64(int64(time.Since(s.start)/time.Second)) + " seconds"},
		{"$SYS/broker/clients/connected", i64(connected)},
		{"$SYS/broker/clients/disconnected", i64(max(total-connected, 0))},
		{"$SYS/broker/clients/total", i64(max(total, connected))},
		{"$SYS/broker/clients/maximum", i64(st.maximum.Load())},
		{"$SYS/broker/messages/received", i64(st.msgsReceived.Load())},
		{"$SYS/broker/messages/sent", i64(st.msgsSent.Load())},
		{"$SYS/broker/publish/messages/received", i64(st.pubReceived.Load())},
		{"$SYS/broker/publish/messages/sent", i64(st.pubSent.Load())},
		{"$SYS/broker/publish/messages/dropped", i64(st.pubDrops.Load())},
		{"$SYS/broker/bytes/received", i64(st.bytesReceived.Load())},
		{"$SYS/broker/bytes/sent", i64(st.bytesSent.Load())},
		{"$SYS/broker/retained messages/count", i64(int64(s.store.RetainedCount()))},
		{"$SYS/broker/subscriptions/count", i64(int64(s.tree.len()))},
	}
	for _, v := range values {
		s.publish(&Message{Topic: v.topic, Payload: []byte(v.value), Retain: true}, nil)
	}
}
