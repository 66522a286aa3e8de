package packet

import "fmt"

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types, MQTT 5.0 section 2.1.2.
const (
	CONNECT Type = iota + 1
	CONNACK
	PUBLISH
	PUBACK
	PUBREC
	PUBREL
	PUBCOMP
	SUBSCRIBE
	SUBACK
	UNSUBSCRIBE
	UNSUBACK
	PINGREQ
	PINGRESP
	DISCONNECT
	AUTH
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// String returns the spec's upper-case name of t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// QoS is a quality of service level.
type QoS byte

// QoS levels, MQTT 5.0 section 4.3.
const (
	AtMostOnce  QoS = 0
	AtLeastOnce QoS = 1
	ExactlyOnce QoS = 2
)

// String returns "0", "1" or "2".
func (q QoS) String() string { return fmt.Sprintf("%d", byte(q)) }

// Valid reports whether q is 0, 1 or 2.
func (q QoS) Valid() bool { return q <= ExactlyOnce }

// Version is the MQTT protocol level carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns the release name of v, e.g. "3.1.1".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("Version(%d)", byte(v))
}

// ProtocolName returns the protocol name CONNECT carries for v.
func (v Version) ProtocolName() string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// Packet is one MQTT control packet.
type Packet interface {
	Type() Type
}

// MaxRemainingLength is the largest remaining length a variable byte integer
// can express, 268,435,455 bytes [MQTT-1.5.5].
const MaxRemainingLength = 268435455

// Connect is the CONNECT packet (section 3.1).
type Connect struct {
	ProtocolName string // "MQTT", or "MQIsdp" for 3.1; filled by Write when empty
	Version      Version
	CleanStart   bool // Clean Session in 3.1.x
	KeepAlive    uint16
	ClientID     string
	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
	Will         *Will // nil when the Will Flag is 0
	Props        Properties
}

// Will is the will message of a CONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool
	Props   Properties // will properties (v5)
}

// Connack is the CONNACK packet (section 3.2). ReasonCode is always the
// MQTT 5 code; at 3.1.x it is mapped to and from the return code.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          Properties
}

// Publish is the PUBLISH packet (section 3.3). Payload is not copied by
// Write; after Read it is a slice of the packet's own buffer.
type Publish struct {
	Dup      bool
	QoS      QoS
	Retain   bool
	Topic    string
	PacketID uint16 // only for QoS 1 and 2
	Props    Properties
	Payload  []byte
}

// Puback is the PUBACK packet (section 3.4).
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Pubrec is the PUBREC packet (section 3.5).
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Pubrel is the PUBREL packet (section 3.6).
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Pubcomp is the PUBCOMP packet (section 3.7).
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options
// (section 3.8.3.1).
type Subscription struct {
	Filter            string
	QoS               QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    RetainHandling
}

// RetainHandling is the v5 subscription option that says when retained
// messages are sent on subscribe.
type RetainHandling byte

// Retain handling options.
const (
	SendRetained          RetainHandling = 0 // at subscribe
	SendRetainedIfNew     RetainHandling = 1 // at subscribe, only if the subscription did not exist
	DoNotSendRetained     RetainHandling = 2
	invalidRetainHandling RetainHandling = 3
)

// String returns mosquitto's name for h: "always", "new" or "never".
func (h RetainHandling) String() string {
	switch h {
	case SendRetained:
		return "always"
	case SendRetainedIfNew:
		return "new"
	case DoNotSendRetained:
		return "never"
	}
	return fmt.Sprintf("RetainHandling(%d)", byte(h))
}

// Subscribe is the SUBSCRIBE packet (section 3.8).
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet (section 3.9). ReasonCodes hold v5 codes; at
// 3.1.x every failure is written as 0x80.
type Suback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet (section 3.10).
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Unsuback is the UNSUBACK packet (section 3.11). ReasonCodes exist only in v5.
type Unsuback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet (section 3.12).
type Pingreq struct{}

// Pingresp is the PINGRESP packet (section 3.13).
type Pingresp struct{}

// Disconnect is the DISCONNECT packet (section 3.14). ReasonCode and Props
// exist only in v5.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Auth is the AUTH packet of MQTT 5 (section 3.15).
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Type returns CONNECT.
func (*Connect) Type() Type { return CONNECT }

// Type returns CONNACK.
func (*Connack) Type() Type { return CONNACK }

// Type returns PUBLISH.
func (*Publish) Type() Type { return PUBLISH }

// Type returns PUBACK.
func (*Puback) Type() Type { return PUBACK }

// Type returns PUBREC.
func (*Pubrec) Type() Type { return PUBREC }

// Type returns PUBREL.
func (*Pubrel) Type() Type { return PUBREL }

// Type returns PUBCOMP.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Type returns SUBSCRIBE.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Type returns SUBACK.
func (*Suback) Type() Type { return SUBACK }

// Type returns UNSUBSCRIBE.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Type returns UNSUBACK.
func (*Unsuback) Type() Type { return UNSUBACK }

// Type returns PINGREQ.
func (*Pingreq) Type() Type { return PINGREQ }

// Type returns PINGRESP.
func (*Pingresp) Type() Type { return PINGRESP }

// Type returns DISCONNECT.
func (*Disconnect) Type() Type { return DISCONNECT }

// Type returns AUTH.
func (*Auth) Type() Type { return AUTH }
