package broker

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// session is the broker side of a client session. It outlives connections
// when it is persistent. Its fields are guarded by mu unless noted.
type session struct {
	s  *Server
	id string // immutable

	mu         sync.Mutex
	conn       *conn  // nil while the client is offline
	client     Client // who owns the session, for receive checks
	version    packet.Version
	persistent bool
	expiry     uint32 // Session Expiry Interval, seconds; 0xFFFFFFFF never
	removed    bool   // ended: expired, or replaced by a clean start

	subs map[string]Subscription

	seq      uint64
	nextPID  uint16
	inflight map[uint16]*StoredMessage // sent, not yet acknowledged
	// resend holds inflight messages of an earlier connection that did
	// not fit the current one's window yet, in order.
	resend      []*StoredMessage
	queue       []*StoredMessage // waiting for the inflight window, in order
	queuedBytes int

	inQoS2 map[uint16]struct{} // inbound QoS 2 ids awaiting PUBREL

	expireTimer *time.Timer
	willTimer   *time.Timer
	pendingWill *Message // a will waiting for its Will Delay Interval
}

func newSession(s *Server, id string) *session {
	return &session{
		s:        s,
		id:       id,
		subs:     map[string]Subscription{},
		inflight: map[uint16]*StoredMessage{},
		inQoS2:   map[uint16]struct{}{},
	}
}

// stopTimers stops session expiry and a delayed will; the will is dropped.
func (ss *session) stopTimers() {
	if ss.expireTimer != nil {
		ss.expireTimer.Stop()
		ss.expireTimer = nil
	}
	if ss.willTimer != nil {
		ss.willTimer.Stop()
		ss.willTimer = nil
	}
	ss.pendingWill = nil
}

// info returns what the store keeps about the session.
func (ss *session) info(disconnected time.Time) SessionInfo {
	return SessionInfo{ClientID: ss.id, Version: ss.version, Expiry: ss.expiry, Disconnected: disconnected}
}

func (ss *session) restoreMessages(msgs []*StoredMessage) {
	for _, m := range msgs {
		ss.seq = max(ss.seq, m.Seq)
		if m.State == StateQueued || m.PacketID == 0 {
			ss.queue = append(ss.queue, m)
			ss.queuedBytes += len(m.Msg.Payload)
			continue
		}
		ss.inflight[m.PacketID] = m
		ss.nextPID = m.PacketID
	}
}

// window returns the outbound inflight limit for c: the smaller of
// max-inflight-messages and the client's Receive Maximum.
func (ss *session) window(c *conn) int {
	w := ss.s.opts.MaxInflightMessages
	if w < 0 || w > 65535 {
		w = 65535
	}
	return min(w, c.recvMaxOut)
}

// sent returns the number of inflight messages the current connection has
// been sent and not acknowledged.
func (ss *session) sent() int { return len(ss.inflight) - len(ss.resend) }

// unresend removes sm from the resend list, if it is there.
func (ss *session) unresend(sm *StoredMessage) {
	for i, r := range ss.resend {
		if r == sm {
			ss.resend = append(ss.resend[:i], ss.resend[i+1:]...)
			if len(ss.resend) == 0 {
				ss.resend = nil
			}
			return
		}
	}
}

// allocPID returns a free packet identifier, or 0 when all are in use.
func (ss *session) allocPID() uint16 {
	for range math.MaxUint16 {
		ss.nextPID++
		if ss.nextPID == 0 {
			ss.nextPID = 1
		}
		if _, used := ss.inflight[ss.nextPID]; !used {
			return ss.nextPID
		}
	}
	return 0
}

func (ss *session) drop() { ss.s.stats.pubDrops.Add(1) }

// deliver hands m to the session at qos: sent now when the client is
// online and the inflight window has room, else queued for QoS 1/2 within
// max-queued-messages/bytes, else dropped and counted. alone says that m
// came alone, with nothing more in its publisher's read buffer, so it may
// be written at once (conn.pushNow).
func (ss *session) deliver(m *Message, qos packet.QoS, retain bool, subIDs []uint32, now time.Time, alone bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.deliverLocked(m, qos, retain, subIDs, now, alone)
}

// deliverLocked is deliver with ss.mu held.
func (ss *session) deliverLocked(m *Message, qos packet.QoS, retain bool, subIDs []uint32, now time.Time, alone bool) {
	if ss.removed || m.expired(now) {
		return
	}
	if !ss.s.auth.Authorize(context.Background(), ss.client, AccessReceive, m.Topic) {
		return
	}
	c := ss.conn
	if qos == packet.AtMostOnce {
		if c == nil || !c.sendPublish(&StoredMessage{QoS: qos, Retain: retain, SubIDs: subIDs, Msg: m}, false, now, alone) {
			ss.drop()
		}
		return
	}
	ss.seq++
	sm := &StoredMessage{Seq: ss.seq, QoS: qos, Retain: retain, SubIDs: subIDs, Msg: m}
	if c != nil && len(ss.queue) == 0 && len(ss.resend) == 0 && ss.sent() < ss.window(c) {
		ss.sendNew(c, sm, now, alone)
		return
	}
	o := &ss.s.opts
	if (o.MaxQueuedMessages > 0 && len(ss.queue) >= o.MaxQueuedMessages) ||
		(o.MaxQueuedBytes > 0 && ss.queuedBytes+len(m.Payload) > o.MaxQueuedBytes) {
		ss.drop()
		return
	}
	ss.queue = append(ss.queue, sm)
	ss.queuedBytes += len(m.Payload)
	ss.put(sm)
}

func (ss *session) put(sm *StoredMessage) {
	if err := ss.s.store.PutMessage(ss.id, sm); err != nil {
		ss.s.logf(LogError, "Error: storing message for %s: %v", ss.id, err)
	}
}

func (ss *session) del(sm *StoredMessage) {
	if err := ss.s.store.DeleteMessage(ss.id, sm.Seq); err != nil {
		ss.s.logf(LogError, "Error: deleting message for %s: %v", ss.id, err)
	}
}

// sendNew gives sm a packet id, puts it inflight and sends it. A message
// too large for the client is dropped [MQTT-3.1.2-25].
func (ss *session) sendNew(c *conn, sm *StoredMessage, now time.Time, alone bool) bool {
	pid := ss.allocPID()
	if pid == 0 {
		return false
	}
	sm.PacketID = pid
	sm.State = StateSent
	if !c.sendPublish(sm, false, now, alone) {
		sm.PacketID, sm.State = 0, StateQueued
		ss.del(sm)
		ss.drop()
		return true
	}
	ss.inflight[pid] = sm
	ss.put(sm)
	return true
}

// fill moves queued messages into the inflight window; expired ones are
// dropped [MQTT-3.3.2-5].
func (ss *session) fill(now time.Time) {
	c := ss.conn
	if c == nil {
		return
	}
	w := ss.window(c)
	for len(ss.resend) > 0 && ss.sent() < w {
		sm := ss.resend[0]
		ss.resend[0] = nil
		ss.resend = ss.resend[1:]
		if len(ss.resend) == 0 {
			ss.resend = nil
		}
		ss.resendOne(c, sm, now)
	}
	for len(ss.queue) > 0 && len(ss.resend) == 0 && ss.sent() < w {
		sm := ss.queue[0]
		if m := sm.Msg; m.expired(now) {
			ss.popQueue()
			ss.del(sm)
			ss.drop()
			continue
		}
		ss.popQueue()
		if !ss.sendNew(c, sm, now, false) {
			ss.queue = append([]*StoredMessage{sm}, ss.queue...)
			ss.queuedBytes += len(sm.Msg.Payload)
			return
		}
	}
}

func (ss *session) popQueue() {
	ss.queuedBytes -= len(ss.queue[0].Msg.Payload)
	ss.queue[0] = nil
	ss.queue = ss.queue[1:]
	if len(ss.queue) == 0 {
		ss.queue = nil
	}
}

// online attaches c and, for a resumed session, re-sends unacknowledged
// PUBLISH packets with DUP set and PUBREL packets in their original order
// [MQTT-4.4.0-1], within c's window [MQTT-3.3.4-9]; fill sends the rest as
// acknowledgements arrive, then messages from the queue.
func (ss *session) online(c *conn, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.conn = c
	ss.resend = nil
	if len(ss.inflight) > 0 {
		order := make([]*StoredMessage, 0, len(ss.inflight))
		for _, sm := range ss.inflight {
			order = append(order, sm)
		}
		sortBySeq(order)
		ss.resend = order
	}
	ss.fill(now)
}

// resendOne re-sends an inflight message of an earlier connection: PUBREL
// when PUBREC arrived, else PUBLISH with DUP set.
func (ss *session) resendOne(c *conn, sm *StoredMessage, now time.Time) {
	if sm.State == StateReleased {
		c.enqueue(&packet.Pubrel{PacketID: sm.PacketID})
		return
	}
	if !c.sendPublish(sm, true, now, false) {
		delete(ss.inflight, sm.PacketID)
		ss.del(sm)
		ss.drop()
	}
}

func sortBySeq(ms []*StoredMessage) {
	slices.SortFunc(ms, func(a, b *StoredMessage) int { return cmp.Compare(a.Seq, b.Seq) })
}

// acked ends the flow of an outbound message on PUBACK or PUBCOMP.
func (ss *session) acked(pid uint16, want packet.QoS, state MessageState) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.removed {
		return // its client id's store records belong to the next session
	}
	sm, ok := ss.inflight[pid]
	if !ok || sm.QoS != want || sm.State != state {
		return
	}
	delete(ss.inflight, pid)
	ss.unresend(sm)
	ss.del(sm)
	ss.fill(time.Now())
}

// received handles PUBREC: the message moves to released and PUBREL is
// sent, or the flow ends when the client refused the message.
func (ss *session) received(pid uint16, rc packet.ReasonCode) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.removed {
		return
	}
	c := ss.conn
	sm, ok := ss.inflight[pid]
	if !ok || sm.QoS != packet.ExactlyOnce {
		if c != nil {
			c.enqueue(&packet.Pubrel{PacketID: pid, ReasonCode: packet.PacketIdentifierNotFound})
		}
		return
	}
	ss.unresend(sm)
	if rc.IsError() {
		delete(ss.inflight, pid)
		ss.del(sm)
		ss.fill(time.Now())
		return
	}
	if sm.State == StateSent {
		sm.State = StateReleased
		ss.put(sm)
	}
	if c != nil {
		c.enqueue(&packet.Pubrel{PacketID: pid})
	}
}

// subscribeLocked adds or replaces a subscription and reports whether one
// with the same filter existed. ss.mu is held. A session that has ended
// gets no subscription: the tree would keep it for nothing.
func (ss *session) subscribeLocked(sub Subscription) bool {
	if ss.removed {
		return false
	}
	_, existed := ss.subs[sub.Filter]
	ss.subs[sub.Filter] = sub
	ss.s.tree.add(ss, sub)
	if err := ss.s.store.PutSubscription(ss.id, sub); err != nil {
		ss.s.logf(LogError, "Error: storing subscription for %s: %v", ss.id, err)
	}
	return existed
}

func (ss *session) unsubscribe(filter string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.subs[filter]; !ok || ss.removed {
		return false
	}
	delete(ss.subs, filter)
	ss.s.tree.remove(ss, filter)
	if err := ss.s.store.DeleteSubscription(ss.id, filter); err != nil {
		ss.s.logf(LogError, "Error: deleting subscription for %s: %v", ss.id, err)
	}
	return true
}

// end removes the session's subscriptions from the tree and its state from
// the store. The caller holds s.mu and has removed it from s.sessions.
func (ss *session) end() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.removed = true
	ss.stopTimers()
	for f := range ss.subs {
		ss.s.tree.remove(ss, f)
	}
	ss.s.stats.pubDrops.Add(int64(len(ss.queue)))
	if err := ss.s.store.DeleteSession(ss.id); err != nil {
		ss.s.logf(LogError, "Error: deleting session %s: %v", ss.id, err)
	}
}

// expireSession ends ss if it is still offline when its expiry timer fires.
func (s *Server) expireSession(ss *session) {
	s.mu.Lock()
	ss.mu.Lock()
	if s.serving == 0 || ss.conn != nil || ss.removed || s.sessions[ss.id] != ss {
		ss.mu.Unlock()
		s.mu.Unlock()
		return
	}
	will := ss.pendingWill
	ss.pendingWill = nil
	ss.mu.Unlock()
	delete(s.sessions, ss.id)
	ss.end()
	period := s.period
	period.Add(1) // the last Serve call waits for the will
	s.mu.Unlock()
	defer period.Done()
	s.stats.expired.Add(1)
	if will != nil {
		// The session ends before the Will Delay Interval [MQTT-3.1.3-9].
		s.publishWill(will)
	}
}
