package broker

import (
	"time"

	"github.com/mqtool/mqtool/packet"
)

// Message is an application message as the broker routes and stores it.
// Its fields are not changed once it is routed; deliveries share it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Props are the v5 PUBLISH properties forwarded to subscribers: payload
	// format, message expiry (rewritten with the remaining time), content
	// type, response topic, correlation data and user properties.
	Props   packet.Properties
	Expires time.Time // zero: never
	From    string    // publishing client id, for No Local

	// lifetime is a will's Message Expiry Interval, which runs from when
	// the will is published; publishWill sets Expires from it.
	lifetime time.Duration
	// will is the client whose will m is, for the Authenticator when it is
	// published; nil for other messages.
	will *Client
	// counted is the last $SYS round that counted m in the message store
	// (accessed atomically), so a message held by several sessions and
	// as retained counts once.
	counted uint32
}

// expired reports whether m's Message Expiry Interval has passed at now.
func (m *Message) expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// Subscription is one topic filter of a session with its options.
type Subscription struct {
	Filter            string // as subscribed, including any $share/{group}/ prefix
	QoS               packet.QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    packet.RetainHandling
	ID                uint32 // v5 Subscription Identifier, 0 for none
}

// MessageState is where an outbound message is in its QoS flow.
type MessageState byte

// States of a StoredMessage.
const (
	StateQueued   MessageState = iota // waiting for the inflight window
	StateSent                         // PUBLISH sent, awaiting PUBACK or PUBREC
	StateReleased                     // PUBREL sent, awaiting PUBCOMP
)

// StoredMessage is one QoS 1/2 message on its way to one client.
type StoredMessage struct {
	Seq      uint64 // order of arrival in the session
	PacketID uint16 // 0 while queued
	State    MessageState
	QoS      packet.QoS
	Retain   bool
	SubIDs   []uint32
	Msg      *Message
}

// SessionInfo is the durable part of a session apart from its
// subscriptions and messages.
type SessionInfo struct {
	ClientID string
	Version  packet.Version
	// Expiry is the Session Expiry Interval in seconds; 0xFFFFFFFF never.
	Expiry uint32
	// Disconnected is when the client went away; zero while connected.
	Disconnected time.Time
}

// Store keeps sessions, subscriptions, outbound QoS 1/2 messages, inbound
// QoS 2 packet ids and retained messages. The broker calls it on every
// change and reads it back when it restores sessions, so a durable
// implementation can replace the in-memory one without touching protocol
// code. Implementations are safe for concurrent use; the broker serialises
// calls for one client id.
type Store interface {
	PutSession(info SessionInfo) error
	// DeleteSession removes a session with its subscriptions, messages
	// and inbound packet ids.
	DeleteSession(clientID string) error
	// Sessions calls fn for every stored session until fn returns false.
	Sessions(fn func(info SessionInfo) bool) error

	PutSubscription(clientID string, sub Subscription) error
	DeleteSubscription(clientID, filter string) error
	Subscriptions(clientID string) ([]Subscription, error)

	// PutMessage adds or replaces (by Seq) an outbound message.
	PutMessage(clientID string, m *StoredMessage) error
	DeleteMessage(clientID string, seq uint64) error
	// Messages returns a client's outbound messages in Seq order.
	Messages(clientID string) ([]*StoredMessage, error)

	// PutInbound and DeleteInbound track QoS 2 packet ids received and
	// not yet released, for exactly-once delivery across reconnects.
	PutInbound(clientID string, id uint16) error
	DeleteInbound(clientID string, id uint16) error
	Inbound(clientID string) ([]uint16, error)

	// SetRetained stores m as the retained message of its topic; an
	// empty payload deletes it.
	SetRetained(m *Message) error
	// Retained calls fn for each retained message whose topic matches
	// filter until fn returns false. fn runs without the Store's locks
	// held: it may call the Store, and the broker calls Retained with a
	// session's lock held.
	Retained(filter string, fn func(m *Message) bool) error
	// EachRetained calls fn for every retained message, $ topics
	// included, in no order, until fn returns false.
	EachRetained(fn func(m *Message) bool) error
	RetainedCount() int

	Close() error
}
