package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// writer batches encoded packets. Senders append to buf under mu; one
// flusher at a time (the write goroutine, or a sender about to block) swaps
// buf for spare and writes the batch outside the lock, so encoding and the
// system call overlap and a pipelined sender pays one write per batch.
//
// While the read goroutine works through packets it has already buffered,
// the writer is corked: the acknowledgements and the publishes that the
// freed window slots let through go out in one write when the read buffer
// is empty, instead of one small write each. Urgent packets (PINGREQ,
// DISCONNECT) and a full queue flush regardless.
type writer struct {
	mu       sync.Mutex
	buf      []byte
	spare    []byte
	queued   int64         // bytes ever appended
	flushed  int64         // bytes ever written
	drained  chan struct{} // closed after the next write completes; nil if nobody waits
	err      error         // the write error that ended the connection
	closed   bool          // nothing more may be queued: DISCONNECT queued or connection torn down
	corked   bool          // the read goroutine is working through buffered packets
	writing  bool          // a goroutine is writing a batch
	urgent   bool          // flush now even if corked
	kick     chan struct{} // cap 1: buf became non-empty
	aliasOut map[uint16]string

	lastWrite atomic.Int64 // unix nanoseconds of the last write
}

func (w *writer) init() {
	w.buf = make([]byte, 0, 4<<10)
	w.spare = make([]byte, 0, 4<<10)
	w.kick = make(chan struct{}, 1)
	w.lastWrite.Store(time.Now().UnixNano())
}

// waitRoom waits, with w.mu held, until the queue has room. It returns with
// w.mu held, or unlocked with an error.
func (w *writer) waitRoom(ctx context.Context, stop <-chan struct{}) error {
	for len(w.buf) >= maxQueued && w.err == nil && !w.closed {
		ch := w.drained
		if ch == nil {
			ch = make(chan struct{})
			w.drained = ch
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
		w.mu.Lock()
	}
	if w.err != nil || w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// commit accounts for bytes appended from start and wakes the writer if
// the queue was empty (unless the caller flushes itself) or has just
// filled up. Called with w.mu held.
func (w *writer) commit(start int, wake bool) {
	w.queued += int64(len(w.buf) - start)
	if (wake && start == 0 && len(w.buf) > 0 && !w.corked) || (start < maxQueued && len(w.buf) >= maxQueued) {
		w.wake()
	}
}

func (w *writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// cork holds back writes while the read goroutine has buffered packets.
func (w *writer) cork() {
	w.mu.Lock()
	w.corked = true
	w.mu.Unlock()
}

// uncork lets the writer flush what piled up.
func (w *writer) uncork() {
	w.mu.Lock()
	w.corked = false
	if len(w.buf) > 0 {
		w.wake()
	}
	w.mu.Unlock()
}

// waitFlushed waits until everything queued so far has been written.
func (c *Client) waitFlushed(ctx context.Context) error {
	c.flush(true)
	w := &c.w
	w.mu.Lock()
	target := w.queued
	for w.flushed < target {
		stopped := false
		select {
		case <-c.stop:
			stopped = true
		default:
		}
		if w.err != nil || (stopped && !w.writing) {
			w.mu.Unlock()
			return ErrClosed
		}
		ch := w.drained
		if ch == nil {
			ch = make(chan struct{})
			w.drained = ch
		}
		w.mu.Unlock()
		if stopped {
			<-ch // the write in progress ends soon: the connection is closed
		} else {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			case <-c.stop:
			}
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// send encodes p into the write queue, waiting for room while ctx allows.
func (c *Client) send(ctx context.Context, p packet.Packet) error {
	return c.enqueue(ctx, p, 0)
}

// sendUrgent queues p and flushes even while corked.
func (c *Client) sendUrgent(ctx context.Context, p packet.Packet) error {
	return c.enqueue(ctx, p, urgent)
}

// sendLast queues p as the last packet of the connection, flushed at once:
// later sends fail.
func (c *Client) sendLast(ctx context.Context, p packet.Packet) error {
	return c.enqueue(ctx, p, last|urgent)
}

// sendSync queues p for a caller that flushes and then waits.
func (c *Client) sendSync(ctx context.Context, p packet.Packet) error {
	return c.enqueue(ctx, p, selfFlush)
}

// sendFlags modify enqueue.
type sendFlags byte

const (
	last      sendFlags = 1 << iota // no packet may follow
	urgent                          // flush even while corked
	selfFlush                       // the caller flushes: do not wake the writer
)

func (c *Client) enqueue(ctx context.Context, p packet.Packet, flags sendFlags) error {
	w := &c.w
	w.mu.Lock()
	if err := w.waitRoom(ctx, c.stop); err != nil {
		return err
	}
	start := len(w.buf)
	buf, sent, err := c.appendPacket(w.buf, p)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	if c.trace != nil {
		c.trace(true, sent)
	}
	w.buf = buf
	w.commit(start, flags&selfFlush == 0)
	if flags&last != 0 {
		w.closed = true
	}
	if flags&urgent != 0 && w.corked {
		w.urgent = true
		w.wake()
	}
	w.mu.Unlock()
	return nil
}

// sendPublish queues p, applying the outbound topic alias and the server's
// Maximum Packet Size under the queue lock so that the first use of an
// alias is written before its reuses.
func (c *Client) sendPublish(ctx context.Context, p *packet.Publish, flags sendFlags) error {
	w := &c.w
	w.mu.Lock()
	if err := w.waitRoom(ctx, c.stop); err != nil {
		return err
	}
	topic := p.Topic
	aliasSet := false
	var prev string
	var hadPrev bool
	alias := uint16(0)
	if c.version == packet.V5 && p.Props.Has(packet.PropTopicAlias) {
		alias = p.Props.TopicAlias
		if alias == 0 || alias > c.aliasMax {
			// The server allows no such alias [MQTT-3.3.2-9]: send the topic plainly.
			p.Props.Clear(packet.PropTopicAlias)
			aliasSet = true
			alias = 0
		} else {
			if w.aliasOut == nil {
				w.aliasOut = make(map[uint16]string)
			}
			prev, hadPrev = w.aliasOut[alias]
			if hadPrev && prev == topic {
				p.Topic = ""
			} else {
				w.aliasOut[alias] = topic
			}
		}
	}
	start := len(w.buf)
	buf, _, err := c.appendPacket(w.buf, p)
	if err == nil && c.trace != nil {
		c.trace(true, p)
	}
	p.Topic = topic
	if aliasSet {
		p.Props.Set(packet.PropTopicAlias)
	}
	if err != nil {
		if alias != 0 {
			if hadPrev {
				w.aliasOut[alias] = prev
			} else {
				delete(w.aliasOut, alias)
			}
		}
		w.buf = buf
		w.mu.Unlock()
		return err
	}
	w.buf = buf
	w.commit(start, flags&selfFlush == 0)
	w.mu.Unlock()
	return nil
}

// writeLoop writes queued batches until the connection stops.
func (c *Client) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.w.kick:
			c.flush(false)
		case <-c.stop:
			return
		}
	}
}

// flush writes the queue unless another goroutine is writing, in which case
// that one writes what we queued. While the read goroutine is corked only a
// forced flush, an urgent packet or a full queue writes. Senders about to
// block (a full window, a synchronous call) flush forcibly on their own
// goroutine, which saves waking the write goroutine.
func (c *Client) flush(force bool) {
	w := &c.w
	w.mu.Lock()
	for !w.writing && len(w.buf) > 0 && (force || !w.corked || w.urgent || len(w.buf) >= maxQueued) {
		select {
		case <-c.stop:
			w.mu.Unlock()
			return
		default:
		}
		w.writing = true
		w.urgent = false
		b := w.buf
		w.buf = w.spare[:0]
		w.spare = nil
		w.mu.Unlock()
		_, err := c.conn.Write(b)
		w.lastWrite.Store(time.Now().UnixNano())
		w.mu.Lock()
		w.writing = false
		if cap(b) <= 4*maxQueued {
			w.spare = b[:0]
		}
		if err == nil {
			w.flushed += int64(len(b))
		} else if w.err == nil {
			w.err = err
		}
		if w.drained != nil {
			close(w.drained)
			w.drained = nil
		}
		if err != nil {
			w.mu.Unlock()
			c.shutdown(fmt.Errorf("client: write: %w", err))
			return
		}
	}
	w.mu.Unlock()
}
