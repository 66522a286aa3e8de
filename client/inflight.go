package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mqtool/mqtool/packet"
)

// op is one operation waiting for the server: a QoS 1/2 publish, a
// subscribe or an unsubscribe.
type op struct {
	kind     packet.Type // PUBLISH, SUBSCRIBE or UNSUBSCRIBE
	qos      packet.QoS
	windowed bool        // holds a window token
	ch       chan result // cap 1; receives the outcome unless cb is set
	cb       func(error)
}

type result struct {
	p   packet.Packet
	err error
}

func (c *Client) getOp() *op {
	if o, ok := c.opsPool.Get().(*op); ok {
		return o
	}
	return &op{ch: make(chan result, 1)}
}

func (c *Client) putOp(o *op) {
	*o = op{ch: o.ch}
	c.opsPool.Put(o)
}

// register allocates a free packet identifier for o [MQTT-2.2.1-3].
func (c *Client) register(o *op) (uint16, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, c.ended()
	}
	defer c.mu.Unlock()
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.ops[c.nextID]; !used {
			c.ops[c.nextID] = o
			return c.nextID, nil
		}
	}
	return 0, errors.New("client: no free packet identifier")
}

// unregister removes the operation on id and reports whether it was still
// pending; if not, failOps has already finished it.
func (c *Client) unregister(id uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ops[id]; !ok {
		return false
	}
	delete(c.ops, id)
	return true
}

// window limits the outbound QoS 1/2 publishes in flight. A waiting sender
// is woken as soon as one slot frees: refilling the window in bursts would
// leave the connection silent while acknowledgements trickle in, and a
// server that uses Nagle's algorithm (mosquitto by default) then holds its
// PUBACKs until our delayed TCP acknowledgement, 40 ms a round.
type window struct {
	mu      sync.Mutex
	used    int
	max     int
	waiting int
	wake    chan struct{} // cap 1: a slot may be free
}

func newWindow(max int) *window { return &window{max: max, wake: make(chan struct{}, 1)} }

func (w *window) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// acquire takes a slot for an outbound QoS 1/2 publish and reports whether
// that filled the window.
func (c *Client) acquire(ctx context.Context) (full bool, err error) {
	w := c.window
	w.mu.Lock()
	for w.used >= w.max {
		w.waiting++
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			err = fmt.Errorf("client: wait for inflight slot: %w", ctx.Err())
		case <-c.stop:
			err = ErrClosed
		}
		w.mu.Lock()
		w.waiting--
		if err != nil {
			w.mu.Unlock()
			if errors.Is(err, ErrClosed) {
				err = c.ended()
			}
			return false, err
		}
	}
	w.used++
	full = w.used == w.max
	if !full && w.waiting > 0 {
		w.signal() // pass the wake-up on to the next waiter
	}
	w.mu.Unlock()
	return full, nil
}

func (c *Client) release() {
	w := c.window
	w.mu.Lock()
	w.used--
	if w.waiting > 0 {
		w.signal()
	}
	w.mu.Unlock()
}

// checkPublish applies the limits the server announced in CONNACK.
func (c *Client) checkPublish(p *packet.Publish) error {
	if !p.QoS.Valid() {
		return fmt.Errorf("client: PUBLISH QoS %d: %w", p.QoS, packet.MalformedPacket)
	}
	if p.QoS > c.maxQoS {
		return fmt.Errorf("client: PUBLISH QoS %d above the server's maximum QoS %d: %w", p.QoS, c.maxQoS, packet.QoSNotSupported) // [MQTT-3.2.2-11]
	}
	if p.Retain && c.noRetain {
		return fmt.Errorf("client: server does not support retained messages: %w", packet.RetainNotSupported) // [MQTT-3.2.2-14]
	}
	return nil
}

// Publish sends p and sets p.PacketID. At QoS 0 it returns once p is
// written to the connection; at QoS 1 and 2 it waits for a window slot and
// returns after PUBACK or PUBCOMP. A v5 reason code of 0x80 or above is
// returned as an error wrapping packet.ReasonCode. If p.Props has
// PropTopicAlias and the server allows that alias, the topic is sent only
// the first time; otherwise the property is left out. The server's Maximum
// QoS, Retain Available and Maximum Packet Size are enforced here.
func (c *Client) Publish(ctx context.Context, p *packet.Publish) error {
	if err := c.checkPublish(p); err != nil {
		return err
	}
	if p.QoS == packet.AtMostOnce {
		if err := c.publish0(ctx, p, selfFlush); err != nil {
			return err
		}
		if err := c.waitFlushed(ctx); err != nil {
			return c.sendErr(err)
		}
		return nil
	}
	o := c.getOp()
	if err := c.publishQoS(ctx, p, o); err != nil {
		return err
	}
	select {
	case r := <-o.ch:
		c.putOp(o)
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("client: wait for %s: %w", ackName(p.QoS), ctx.Err())
	}
}

// PublishAsync sends p and returns once it is encoded into the write queue
// (after waiting for a window slot at QoS 1 and 2), so p and its payload
// may be reused at once. done, if not nil, runs with the outcome: at once
// for QoS 0, from the read goroutine on PUBACK or PUBCOMP, or when the
// connection ends. done must not block. It suits pipelined senders (pub -l,
// bench); Disconnect writes whatever is queued before the DISCONNECT. When
// PublishAsync returns an error, done is not called.
func (c *Client) PublishAsync(ctx context.Context, p *packet.Publish, done func(err error)) error {
	if err := c.checkPublish(p); err != nil {
		return err
	}
	if p.QoS == packet.AtMostOnce {
		if err := c.publish0(ctx, p, 0); err != nil {
			return err
		}
		if done != nil {
			done(nil)
		}
		return nil
	}
	o := c.getOp()
	o.cb = done
	if done == nil {
		o.cb = func(error) {}
	}
	return c.publishQoS(ctx, p, o)
}

func (c *Client) publish0(ctx context.Context, p *packet.Publish, flags sendFlags) error {
	p.PacketID = 0
	if err := c.sendPublish(ctx, p, flags); err != nil {
		return c.sendErr(err)
	}
	return nil
}

// publishQoS takes a window slot and a packet id for o and queues p.
func (c *Client) publishQoS(ctx context.Context, p *packet.Publish, o *op) error {
	full, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	o.kind = packet.PUBLISH
	o.qos = p.QoS
	o.windowed = true
	async := o.cb != nil
	id, err := c.register(o)
	if err != nil {
		c.release()
		return err
	}
	p.PacketID = id
	// A caller about to block (waiting for the ack, or for a slot in a full
	// window) writes the queue itself rather than waking the writer.
	var flags sendFlags
	if !async || full {
		flags = selfFlush
	}
	if err := c.sendPublish(ctx, p, flags); err != nil {
		if !c.unregister(id) {
			if async {
				return nil // done has the outcome
			}
			return c.sendErr(err)
		}
		c.release()
		return c.sendErr(err)
	}
	if flags&selfFlush != 0 {
		c.flush(true)
	}
	return nil
}

// sendErr turns a queueing failure caused by the connection ending into
// the cause.
func (c *Client) sendErr(err error) error {
	if errors.Is(err, ErrClosed) {
		return c.ended()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("client: wait to send: %w", err)
	}
	return err
}

func ackName(q packet.QoS) string {
	if q == packet.ExactlyOnce {
		return "PUBCOMP"
	}
	return "PUBACK"
}

// Subscribe sends s and waits for its SUBACK, which it returns; the caller
// inspects the reason codes. A SUBSCRIBE over the server's Maximum Packet
// Size is not sent: the error wraps packet.PacketTooLarge.
func (c *Client) Subscribe(ctx context.Context, s *packet.Subscribe) (*packet.Suback, error) {
	p, err := c.request(ctx, s, packet.SUBSCRIBE, &s.PacketID)
	if err != nil {
		return nil, err
	}
	return p.(*packet.Suback), nil
}

// Unsubscribe sends u and waits for its UNSUBACK, which it returns. An
// UNSUBSCRIBE over the server's Maximum Packet Size is not sent: the error
// wraps packet.PacketTooLarge.
func (c *Client) Unsubscribe(ctx context.Context, u *packet.Unsubscribe) (*packet.Unsuback, error) {
	p, err := c.request(ctx, u, packet.UNSUBSCRIBE, &u.PacketID)
	if err != nil {
		return nil, err
	}
	return p.(*packet.Unsuback), nil
}

func (c *Client) request(ctx context.Context, p packet.Packet, kind packet.Type, id *uint16) (packet.Packet, error) {
	o := c.getOp()
	o.kind = kind
	pid, err := c.register(o)
	if err != nil {
		return nil, err
	}
	*id = pid
	if err := c.sendSync(ctx, p); err != nil {
		// Not sent (over the server's Maximum Packet Size, say): the
		// connection stays usable. If failOps got o first, leave it be.
		if c.unregister(pid) {
			c.putOp(o)
		}
		return nil, c.sendErr(err)
	}
	c.flush(true)
	select {
	case r := <-o.ch:
		c.putOp(o)
		return r.p, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("client: wait for %s ack: %w", kind, ctx.Err())
	}
}

// take removes and returns the operation waiting on id if it expects a
// packet of type t.
func (c *Client) take(id uint16, t packet.Type) *op {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.ops[id]
	if !ok || !expects(o, t) {
		return nil
	}
	delete(c.ops, id)
	return o
}

func expects(o *op, t packet.Type) bool {
	switch t {
	case packet.PUBACK:
		return o.kind == packet.PUBLISH && o.qos == packet.AtLeastOnce
	case packet.PUBREC, packet.PUBCOMP:
		return o.kind == packet.PUBLISH && o.qos == packet.ExactlyOnce
	case packet.SUBACK:
		return o.kind == packet.SUBSCRIBE
	case packet.UNSUBACK:
		return o.kind == packet.UNSUBSCRIBE
	}
	return false
}

// complete finishes the operation waiting on id with the packet p of type t.
// Acks for unknown ids are ignored.
func (c *Client) complete(id uint16, t packet.Type, p packet.Packet, rc packet.ReasonCode) {
	o := c.take(id, t)
	if o == nil {
		return
	}
	var err error
	if rc.IsError() {
		err = fmt.Errorf("client: %s for packet %d: %w", t, id, rc)
	}
	c.finish(o, p, err)
}

func (c *Client) finish(o *op, p packet.Packet, err error) {
	if o.windowed {
		c.release()
	}
	if o.cb != nil {
		cb := o.cb
		c.putOp(o)
		cb(err)
		return
	}
	o.ch <- result{p, err}
}

// pubrec handles PUBREC for an outbound QoS 2 publish and returns the
// reason code of the PUBREL to send, or false when the flow ended with a
// failure code [MQTT-4.3.3-4]. An unknown id still gets PUBREL, so a
// server that resends PUBREC can finish its flow.
func (c *Client) pubrec(p *packet.Pubrec) (packet.ReasonCode, bool) {
	if p.ReasonCode.IsError() {
		c.complete(p.PacketID, packet.PUBREC, p, p.ReasonCode)
		return 0, false
	}
	c.mu.Lock()
	o, ok := c.ops[p.PacketID]
	c.mu.Unlock()
	if (!ok || !expects(o, packet.PUBREC)) && c.version == packet.V5 {
		return packet.PacketIdentifierNotFound, true
	}
	return packet.Success, true
}

// takeOps marks the client closed and returns the pending operations.
func (c *Client) takeOps() map[uint16]*op {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	ops := c.ops
	c.ops = make(map[uint16]*op)
	return ops
}

// failOps ends the operations left when the connection is gone.
func (c *Client) failOps(ops map[uint16]*op) {
	err := c.closedErr()
	for _, o := range ops {
		c.finish(o, nil, err)
	}
}
