package packet

import "fmt"

// ReasonCode is an MQTT 5 reason code (section 2.4). It is also an error, so
// the code a check produces travels up the stack with errors.As and is then
// written on the wire unchanged. Codes below 0x80 are successes.
type ReasonCode byte

// Reason codes of MQTT 5.0, section 2.4, table 2-6. Several share a value.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonText = map[ReasonCode]string{
	0x00: "success",
	0x01: "granted qos 1",
	0x02: "granted qos 2",
	0x04: "disconnect with will message",
	0x10: "no matching subscribers",
	0x11: "no subscription existed",
	0x18: "continue authentication",
	0x19: "re-authenticate",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x84: "unsupported protocol version",
	0x85: "client identifier not valid",
	0x86: "bad user name or password",
	0x87: "not authorized",
	0x88: "server unavailable",
	0x89: "server busy",
	0x8A: "banned",
	0x8B: "server shutting down",
	0x8C: "bad authentication method",
	0x8D: "keep alive timeout",
	0x8E: "session taken over",
	0x8F: "topic filter invalid",
	0x90: "topic name invalid",
	0x91: "packet identifier in use",
	0x92: "packet identifier not found",
	0x93: "receive maximum exceeded",
	0x94: "topic alias invalid",
	0x95: "packet too large",
	0x96: "message rate too high",
	0x97: "quota exceeded",
	0x98: "administrative action",
	0x99: "payload format invalid",
	0x9A: "retain not supported",
	0x9B: "qos not supported",
	0x9C: "use another server",
	0x9D: "server moved",
	0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded",
	0xA0: "maximum connect time",
	0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// String returns the spec's name for c in lower case, or its hex value.
func (c ReasonCode) String() string {
	if s, ok := reasonText[c]; ok {
		return s
	}
	return fmt.Sprintf("reason code 0x%02X", byte(c))
}

// Error makes a ReasonCode an error. Its text carries no package prefix:
// the packet package wraps it in a message that has one ("packet: PUBLISH
// QoS 3: malformed packet"), and so does whoever returns it from elsewhere.
func (c ReasonCode) Error() string { return c.String() }

// IsError reports whether c is a failure (0x80 or above) [MQTT-2.4].
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// Known reports whether c is a reason code defined by MQTT 5.0.
func (c ReasonCode) Known() bool {
	_, ok := reasonText[c]
	return ok
}

// V3 CONNACK return codes, MQTT 3.1.1 section 3.2.2.3.
const (
	ConnAccepted               byte = 0
	ConnRefusedProtocolVersion byte = 1
	ConnRefusedIdentifier      byte = 2
	ConnRefusedUnavailable     byte = 3
	ConnRefusedBadCredentials  byte = 4
	ConnRefusedNotAuthorized   byte = 5
)

// ConnackV3 returns the MQTT 3.1.1 CONNACK return code closest to c.
func (c ReasonCode) ConnackV3() byte {
	switch c {
	case Success:
		return ConnAccepted
	case UnsupportedProtocolVersion:
		return ConnRefusedProtocolVersion
	case ClientIdentifierNotValid:
		return ConnRefusedIdentifier
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return ConnRefusedBadCredentials
	case NotAuthorized, Banned:
		return ConnRefusedNotAuthorized
	default:
		return ConnRefusedUnavailable
	}
}

// ConnackFromV3 returns the MQTT 5 reason code for a 3.1.1 CONNACK return code.
func ConnackFromV3(rc byte) (ReasonCode, bool) {
	switch rc {
	case ConnAccepted:
		return Success, true
	case ConnRefusedProtocolVersion:
		return UnsupportedProtocolVersion, true
	case ConnRefusedIdentifier:
		return ClientIdentifierNotValid, true
	case ConnRefusedUnavailable:
		return ServerUnavailable, true
	case ConnRefusedBadCredentials:
		return BadUserNameOrPassword, true
	case ConnRefusedNotAuthorized:
		return NotAuthorized, true
	}
	return 0, false
}

// SubackV3 returns the MQTT 3.1.1 SUBACK return code for c: the granted QoS,
// or 0x80 for any failure [MQTT-3.9.3-2].
func (c ReasonCode) SubackV3() byte {
	if c <= GrantedQoS2 {
		return byte(c)
	}
	return 0x80
}
