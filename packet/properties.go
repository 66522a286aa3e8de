package packet

import (
	"fmt"
	"math/bits"
	"reflect"
)

// PropID identifies an MQTT 5 property (section 2.2.2.2).
type PropID byte

// Property identifiers, MQTT 5.0 table 2-4.
const (
	PropPayloadFormat           PropID = 0x01
	PropMessageExpiry           PropID = 0x02
	PropContentType             PropID = 0x03
	PropResponseTopic           PropID = 0x08
	PropCorrelationData         PropID = 0x09
	PropSubscriptionID          PropID = 0x0B
	PropSessionExpiry           PropID = 0x11
	PropAssignedClientID        PropID = 0x12
	PropServerKeepAlive         PropID = 0x13
	PropAuthMethod              PropID = 0x15
	PropAuthData                PropID = 0x16
	PropRequestProblemInfo      PropID = 0x17
	PropWillDelay               PropID = 0x18
	PropRequestResponseInfo     PropID = 0x19
	PropResponseInfo            PropID = 0x1A
	PropServerReference         PropID = 0x1C
	PropReasonString            PropID = 0x1F
	PropReceiveMaximum          PropID = 0x21
	PropTopicAliasMaximum       PropID = 0x22
	PropTopicAlias              PropID = 0x23
	PropMaximumQoS              PropID = 0x24
	PropRetainAvailable         PropID = 0x25
	PropUser                    PropID = 0x26
	PropMaximumPacketSize       PropID = 0x27
	PropWildcardSubAvailable    PropID = 0x28
	PropSubscriptionIDAvailable PropID = 0x29
	PropSharedSubAvailable      PropID = 0x2A
	maxPropID                          = 0x2A
)

type propKind byte

const (
	kindByte propKind = iota + 1
	kindUint16
	kindUint32
	kindVarint
	kindString
	kindBinary
	kindPair
)

// willTarget stands for the will properties of a CONNECT in the allowed
// masks; bit 0 is free because no packet type is 0.
const willTarget Type = 0

type propInfo struct {
	name    string // the spec's name in mosquitto's -D spelling
	kind    propKind
	allowed uint32 // bit t set: allowed on packet type t (bit 0: will)
	boolean bool   // value must be 0 or 1
}

func on(ts ...Type) uint32 {
	var m uint32
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

var allProps = on(CONNECT, CONNACK, PUBLISH, willTarget, PUBACK, PUBREC, PUBREL, PUBCOMP,
	SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH)

var propTable = [maxPropID + 1]propInfo{
	PropPayloadFormat:           {"payload-format-indicator", kindByte, on(PUBLISH, willTarget), true},
	PropMessageExpiry:           {"message-expiry-interval", kindUint32, on(PUBLISH, willTarget), false},
	PropContentType:             {"content-type", kindString, on(PUBLISH, willTarget), false},
	PropResponseTopic:           {"response-topic", kindString, on(PUBLISH, willTarget), false},
	PropCorrelationData:         {"correlation-data", kindBinary, on(PUBLISH, willTarget), false},
	PropSubscriptionID:          {"subscription-identifier", kindVarint, on(PUBLISH, SUBSCRIBE), false},
	PropSessionExpiry:           {"session-expiry-interval", kindUint32, on(CONNECT, CONNACK, DISCONNECT), false},
	PropAssignedClientID:        {"assigned-client-identifier", kindString, on(CONNACK), false},
	PropServerKeepAlive:         {"server-keep-alive", kindUint16, on(CONNACK), false},
	PropAuthMethod:              {"authentication-method", kindString, on(CONNECT, CONNACK, AUTH), false},
	PropAuthData:                {"authentication-data", kindBinary, on(CONNECT, CONNACK, AUTH), false},
	PropRequestProblemInfo:      {"request-problem-information", kindByte, on(CONNECT), true},
	PropWillDelay:               {"will-delay-interval", kindUint32, on(willTarget), false},
	PropRequestResponseInfo:     {"request-response-information", kindByte, on(CONNECT), true},
	PropResponseInfo:            {"response-information", kindString, on(CONNACK), false},
	PropServerReference:         {"server-reference", kindString, on(CONNACK, DISCONNECT), false},
	PropReasonString:            {"reason-string", kindString, on(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH), false},
	PropReceiveMaximum:          {"receive-maximum", kindUint16, on(CONNECT, CONNACK), false},
	PropTopicAliasMaximum:       {"topic-alias-maximum", kindUint16, on(CONNECT, CONNACK), false},
	PropTopicAlias:              {"topic-alias", kindUint16, on(PUBLISH), false},
	PropMaximumQoS:              {"maximum-qos", kindByte, on(CONNACK), true},
	PropRetainAvailable:         {"retain-available", kindByte, on(CONNACK), true},
	PropUser:                    {"user-property", kindPair, allProps, false},
	PropMaximumPacketSize:       {"maximum-packet-size", kindUint32, on(CONNECT, CONNACK), false},
	PropWildcardSubAvailable:    {"wildcard-subscription-available", kindByte, on(CONNACK), true},
	PropSubscriptionIDAvailable: {"subscription-identifier-available", kindByte, on(CONNACK), true},
	PropSharedSubAvailable:      {"shared-subscription-available", kindByte, on(CONNACK), true},
}

// propOrder is the order Write emits properties in.
var propOrder = func() []PropID {
	var ids []PropID
	for id := PropID(1); id <= maxPropID; id++ {
		if propTable[id].kind != 0 {
			ids = append(ids, id)
		}
	}
	return ids
}()

// String returns the property's name as mosquitto's -D flag spells it,
// e.g. "message-expiry-interval".
func (id PropID) String() string {
	if id <= maxPropID && propTable[id].kind != 0 {
		return propTable[id].name
	}
	return fmt.Sprintf("PropID(0x%02X)", byte(id))
}

// PropByName returns the property called name (mosquitto's -D spelling).
func PropByName(name string) (PropID, bool) {
	for _, id := range propOrder {
		if propTable[id].name == name {
			return id, true
		}
	}
	return 0, false
}

// AllowedOn reports whether id may appear on packets of type t. Will
// properties are checked with AllowedOnWill.
func (id PropID) AllowedOn(t Type) bool {
	return t != willTarget && id <= maxPropID && propTable[id].allowed&(1<<t) != 0
}

// AllowedOnWill reports whether id may appear among a CONNECT's will properties.
func (id PropID) AllowedOnWill() bool {
	return id <= maxPropID && propTable[id].allowed&1 != 0
}

// UserProperty is one name/value pair. Order and duplicates are kept.
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds the MQTT 5 properties of a packet. A scalar property is
// present when its bit is set (Set, Has); User and SubscriptionIDs are
// present when non-empty. Properties are ignored at 3.1.x.
type Properties struct {
	present uint64

	// Strings and byte slices.
	ContentType      string
	ResponseTopic    string
	CorrelationData  []byte
	SubscriptionIDs  []uint32 // PUBLISH may carry several; SUBSCRIBE at most one
	AssignedClientID string
	AuthMethod       string
	AuthData         []byte
	ResponseInfo     string
	ServerReference  string
	ReasonString     string
	User             []UserProperty

	// Integers, largest first so the struct packs without padding.
	MessageExpiry           uint32
	SessionExpiry           uint32
	WillDelay               uint32
	MaximumPacketSize       uint32
	ServerKeepAlive         uint16
	ReceiveMaximum          uint16
	TopicAliasMaximum       uint16
	TopicAlias              uint16
	PayloadFormat           byte
	RequestProblemInfo      byte
	RequestResponseInfo     byte
	MaximumQoS              byte
	RetainAvailable         byte
	WildcardSubAvailable    byte
	SubscriptionIDAvailable byte
	SharedSubAvailable      byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropUser:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return p.present&(1<<id) != 0
}

// Set marks the scalar property id as present; its value is the field's.
func (p *Properties) Set(id PropID) { p.present |= 1 << id }

// Clear marks the scalar property id as absent.
func (p *Properties) Clear(id PropID) { p.present &^= 1 << id }

// Empty reports whether no property is present.
func (p *Properties) Empty() bool {
	return p.present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0
}

// SetUint sets a byte, two-byte or four-byte integer property and marks it
// present. It fails when id is not an integer property or v does not fit.
func (p *Properties) SetUint(id PropID, v uint64) error {
	if id > maxPropID {
		return fmt.Errorf("packet: unknown property 0x%02X", byte(id))
	}
	info := propTable[id]
	var limit uint64
	switch info.kind {
	case kindByte:
		limit = 0xFF
		if info.boolean {
			limit = 1
		}
	case kindUint16:
		limit = 0xFFFF
	case kindUint32:
		limit = 0xFFFFFFFF
	case kindVarint:
		limit = MaxRemainingLength
	default:
		return fmt.Errorf("packet: property %s is not an integer", id)
	}
	if v > limit {
		return fmt.Errorf("packet: property %s: value %d out of range 0-%d", id, v, limit)
	}
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = byte(v)
	case PropMessageExpiry:
		p.MessageExpiry = uint32(v)
	case PropSubscriptionID:
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		return nil
	case PropSessionExpiry:
		p.SessionExpiry = uint32(v)
	case PropServerKeepAlive:
		p.ServerKeepAlive = uint16(v)
	case PropRequestProblemInfo:
		p.RequestProblemInfo = byte(v)
	case PropWillDelay:
		p.WillDelay = uint32(v)
	case PropRequestResponseInfo:
		p.RequestResponseInfo = byte(v)
	case PropReceiveMaximum:
		p.ReceiveMaximum = uint16(v)
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = uint16(v)
	case PropTopicAlias:
		p.TopicAlias = uint16(v)
	case PropMaximumQoS:
		p.MaximumQoS = byte(v)
	case PropRetainAvailable:
		p.RetainAvailable = byte(v)
	case PropMaximumPacketSize:
		p.MaximumPacketSize = uint32(v)
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = byte(v)
	case PropSubscriptionIDAvailable:
		p.SubscriptionIDAvailable = byte(v)
	case PropSharedSubAvailable:
		p.SharedSubAvailable = byte(v)
	}
	p.Set(id)
	return nil
}

// SetString sets a string or binary property and marks it present.
func (p *Properties) SetString(id PropID, v string) error {
	if id > maxPropID {
		return fmt.Errorf("packet: unknown property 0x%02X", byte(id))
	}
	switch id {
	case PropContentType:
		p.ContentType = v
	case PropResponseTopic:
		p.ResponseTopic = v
	case PropCorrelationData:
		p.CorrelationData = []byte(v)
	case PropAssignedClientID:
		p.AssignedClientID = v
	case PropAuthMethod:
		p.AuthMethod = v
	case PropAuthData:
		p.AuthData = []byte(v)
	case PropResponseInfo:
		p.ResponseInfo = v
	case PropServerReference:
		p.ServerReference = v
	case PropReasonString:
		p.ReasonString = v
	default:
		return fmt.Errorf("packet: property %s is not a string", id)
	}
	p.Set(id)
	return nil
}

// Kind describes the wire type of id: "byte", "uint16", "uint32",
// "varint", "string", "binary" or "pair".
func (id PropID) Kind() string {
	if id > maxPropID {
		return ""
	}
	return [...]string{"", "byte", "uint16", "uint32", "varint", "string", "binary", "pair"}[propTable[id].kind]
}

func (p *Properties) uintValue(id PropID) uint32 {
	switch id {
	case PropPayloadFormat:
		return uint32(p.PayloadFormat)
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropServerKeepAlive:
		return uint32(p.ServerKeepAlive)
	case PropRequestProblemInfo:
		return uint32(p.RequestProblemInfo)
	case PropWillDelay:
		return p.WillDelay
	case PropRequestResponseInfo:
		return uint32(p.RequestResponseInfo)
	case PropReceiveMaximum:
		return uint32(p.ReceiveMaximum)
	case PropTopicAliasMaximum:
		return uint32(p.TopicAliasMaximum)
	case PropTopicAlias:
		return uint32(p.TopicAlias)
	case PropMaximumQoS:
		return uint32(p.MaximumQoS)
	case PropRetainAvailable:
		return uint32(p.RetainAvailable)
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	case PropWildcardSubAvailable:
		return uint32(p.WildcardSubAvailable)
	case PropSubscriptionIDAvailable:
		return uint32(p.SubscriptionIDAvailable)
	case PropSharedSubAvailable:
		return uint32(p.SharedSubAvailable)
	}
	return 0
}

func (p *Properties) bytesValue(id PropID) []byte {
	switch id {
	case PropCorrelationData:
		return p.CorrelationData
	case PropAuthData:
		return p.AuthData
	}
	return nil
}

func (p *Properties) stringValue(id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

// size returns the encoded length of the properties, without their length prefix.
func (p *Properties) size() int {
	n := 0
	for m := p.mask(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		switch id {
		case PropUser:
			for _, u := range p.User {
				n += 1 + 2 + len(u.Key) + 2 + len(u.Value)
			}
			continue
		case PropSubscriptionID:
			for _, v := range p.SubscriptionIDs {
				n += 1 + varintSize(int(v))
			}
			continue
		}
		switch propTable[id].kind {
		case kindByte:
			n += 2
		case kindUint16:
			n += 3
		case kindUint32:
			n += 5
		case kindString:
			n += 3 + len(p.stringValue(id))
		case kindBinary:
			n += 3 + len(p.bytesValue(id))
		}
	}
	return n
}

// encodable reports a property value that cannot be written: a string or
// binary value over 65,535 bytes, or a subscription identifier outside
// 1 to 268,435,455 (section 3.3.2.3.8).
func (p *Properties) encodable() error {
	for _, id := range propOrder {
		if p.present&(1<<id) == 0 {
			continue
		}
		var n int
		switch propTable[id].kind {
		case kindString:
			n = len(p.stringValue(id))
		case kindBinary:
			n = len(p.bytesValue(id))
		default:
			continue
		}
		if n > 0xFFFF {
			return lenErr("property "+id.String(), n)
		}
	}
	for _, u := range p.User {
		if err := firstErr(lenErr("user-property name", len(u.Key)), lenErr("user-property value", len(u.Value))); err != nil {
			return err
		}
	}
	for _, v := range p.SubscriptionIDs {
		if v == 0 || v > MaxRemainingLength {
			return fmt.Errorf("packet: subscription-identifier %d out of range 1-%d: %w", v, MaxRemainingLength, MalformedPacket)
		}
	}
	return nil
}

// mask returns a bit per property to write, in identifier order: the
// scalar properties marked present, and User and SubscriptionIDs when they
// are not empty.
func (p *Properties) mask() uint64 {
	m := p.present & knownScalars
	if len(p.User) > 0 {
		m |= 1 << PropUser
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= 1 << PropSubscriptionID
	}
	return m
}

// knownScalars has a bit for every property Set can mark present.
var knownScalars = func() uint64 {
	var m uint64
	for _, id := range propOrder {
		if id != PropUser && id != PropSubscriptionID {
			m |= 1 << id
		}
	}
	return m
}()

// appendProps appends the property length and the properties.
func appendProps(dst []byte, p *Properties) []byte {
	dst = appendVarint(dst, p.size())
	if p.Empty() {
		return dst
	}
	for m := p.mask(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		switch id {
		case PropUser:
			for _, u := range p.User {
				dst = append(dst, byte(PropUser))
				dst = appendString(dst, u.Key)
				dst = appendString(dst, u.Value)
			}
			continue
		case PropSubscriptionID:
			for _, v := range p.SubscriptionIDs {
				dst = append(dst, byte(PropSubscriptionID))
				dst = appendVarint(dst, int(v))
			}
			continue
		}
		dst = append(dst, byte(id))
		switch propTable[id].kind {
		case kindByte:
			dst = append(dst, byte(p.uintValue(id)))
		case kindUint16:
			dst = appendUint16(dst, uint16(p.uintValue(id)))
		case kindUint32:
			dst = appendUint32(dst, p.uintValue(id))
		case kindString:
			dst = appendString(dst, p.stringValue(id))
		case kindBinary:
			dst = appendBytes(dst, p.bytesValue(id))
		}
	}
	return dst
}

// decodeProps reads a property length and the properties for a packet of
// type t (willTarget for will properties) and returns what follows them.
func decodeProps(d *decoder, p *Properties, t Type) error {
	n, err := d.varint("property length")
	if err != nil {
		return err
	}
	if n > len(d.b) {
		return fmt.Errorf("packet: %s property length %d exceeds remaining %d bytes: %w", targetName(t), n, len(d.b), MalformedPacket)
	}
	pd := decoder{b: d.b[:n]}
	d.b = d.b[n:]
	for len(pd.b) > 0 {
		raw, err := pd.varint("property identifier")
		if err != nil {
			return err
		}
		if raw > maxPropID || propTable[raw].kind == 0 {
			return fmt.Errorf("packet: %s: unknown property identifier 0x%02X: %w", targetName(t), raw, MalformedPacket)
		}
		id := PropID(raw)
		info := propTable[id]
		if info.allowed&(1<<t) == 0 {
			return fmt.Errorf("packet: %s: property %s not allowed: %w", targetName(t), id, MalformedPacket)
		}
		field := id.String()
		switch id {
		case PropUser:
			k, err := pd.str("user-property name")
			if err != nil {
				return err
			}
			v, err := pd.str("user-property value")
			if err != nil {
				return err
			}
			p.User = append(p.User, UserProperty{k, v})
			continue
		case PropSubscriptionID:
			v, err := pd.varint(field)
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("packet: %s: %s is 0: %w", targetName(t), field, ProtocolError)
			}
			if t == SUBSCRIBE && len(p.SubscriptionIDs) > 0 {
				return fmt.Errorf("packet: %s: %s repeated: %w", targetName(t), field, ProtocolError)
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
			continue
		}
		if p.present&(1<<id) != 0 {
			return fmt.Errorf("packet: %s: property %s repeated: %w", targetName(t), id, ProtocolError)
		}
		p.present |= 1 << id
		switch info.kind {
		case kindByte:
			v, err := pd.byte1(field)
			if err != nil {
				return err
			}
			if info.boolean && v > 1 {
				return fmt.Errorf("packet: %s: %s is %d, want 0 or 1: %w", targetName(t), field, v, ProtocolError)
			}
			_ = p.SetUint(id, uint64(v))
		case kindUint16:
			v, err := pd.uint16(field)
			if err != nil {
				return err
			}
			if v == 0 && (id == PropReceiveMaximum || id == PropTopicAlias) {
				return fmt.Errorf("packet: %s: %s is 0: %w", targetName(t), field, ProtocolError)
			}
			_ = p.SetUint(id, uint64(v))
		case kindUint32:
			v, err := pd.uint32(field)
			if err != nil {
				return err
			}
			if v == 0 && id == PropMaximumPacketSize {
				return fmt.Errorf("packet: %s: %s is 0: %w", targetName(t), field, ProtocolError)
			}
			_ = p.SetUint(id, uint64(v))
		case kindString:
			v, err := pd.str(field)
			if err != nil {
				return err
			}
			if id == PropResponseTopic {
				// A topic name without wildcards [MQTT-3.3.2-14], in a will too (3.1.3.2.5).
				if err := validTopicName(v, false); err != nil {
					return fmt.Errorf("packet: %s: %s: %v: %w", targetName(t), field, err, ProtocolError)
				}
			}
			_ = p.SetString(id, v)
		case kindBinary:
			v, err := pd.binary(field)
			if err != nil {
				return err
			}
			if id == PropCorrelationData {
				p.CorrelationData = v
			} else {
				p.AuthData = v
			}
		}
	}
	return nil
}

func targetName(t Type) string {
	if t == willTarget {
		return "will"
	}
	return t.String()
}

// Equal reports whether p and o hold the same properties, treating nil and
// empty slices alike. go-cmp uses it.
func (p Properties) Equal(o Properties) bool {
	norm := func(x Properties) Properties {
		if len(x.CorrelationData) == 0 {
			x.CorrelationData = nil
		}
		if len(x.AuthData) == 0 {
			x.AuthData = nil
		}
		if len(x.User) == 0 {
			x.User = nil
		}
		if len(x.SubscriptionIDs) == 0 {
			x.SubscriptionIDs = nil
		}
		return x
	}
	return reflect.DeepEqual(norm(p), norm(o))
}
