package packet

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// pk builds a packet from its first byte and body parts (byte, int as one
// byte, []byte, or a string of raw bytes), filling in the remaining length.
func pk(first byte, parts ...any) []byte {
	var body []byte
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			body = append(body, p)
		case int:
			body = append(body, byte(p))
		case []byte:
			body = append(body, p...)
		case string:
			body = append(body, p...)
		default:
			panic("pk: bad part")
		}
	}
	return append(appendVarint([]byte{first}, len(body)), body...)
}

// str is a two-byte-length-prefixed string.
func str(s string) []byte { return appendString(nil, s) }

// connectHead is the variable header of a CONNECT up to the keep alive.
func connectHead(name string, level, flags byte) []byte {
	return append(str(name), level, flags, 0x00, 0x3C)
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name    string
		v       Version
		in      []byte
		maxSize int
		want    ReasonCode
		field   string // the error message names it
	}{
		// Reserved fixed header flags [MQTT-2.1.3-1].
		{"CONNECT flags", V311, pk(0x11, connectHead("MQTT", 4, 2), str("c")), 0, MalformedPacket, "CONNECT fixed header flags"},
		{"CONNACK flags", V311, pk(0x28, 0, 0), 0, MalformedPacket, "CONNACK fixed header flags"},
		{"PUBACK flags", V311, pk(0x42, 0, 1), 0, MalformedPacket, "PUBACK fixed header flags"},
		{"PUBREC flags", V5, pk(0x51, 0, 1), 0, MalformedPacket, "PUBREC fixed header flags"},
		{"PUBREL flags 0000", V311, pk(0x60, 0, 1), 0, MalformedPacket, "PUBREL fixed header flags"},
		{"PUBREL DUP at 3.1.1", V311, pk(0x6A, 0, 1), 0, MalformedPacket, "PUBREL fixed header flags"},
		{"PUBCOMP flags", V5, pk(0x74, 0, 1), 0, MalformedPacket, "PUBCOMP fixed header flags"},
		{"SUBSCRIBE flags 0000", V311, pk(0x80, 0, 1, str("a"), 0), 0, MalformedPacket, "SUBSCRIBE fixed header flags"},
		{"SUBACK flags", V311, pk(0x92, 0, 1, 0), 0, MalformedPacket, "SUBACK fixed header flags"},
		{"UNSUBSCRIBE flags 0011", V311, pk(0xA3, 0, 1, str("a")), 0, MalformedPacket, "UNSUBSCRIBE fixed header flags"},
		{"UNSUBACK flags", V5, pk(0xB8, 0, 1, 0, 0), 0, MalformedPacket, "UNSUBACK fixed header flags"},
		{"PINGREQ flags", V311, pk(0xC1), 0, MalformedPacket, "PINGREQ fixed header flags"},
		{"PINGRESP flags", V311, pk(0xD2), 0, MalformedPacket, "PINGRESP fixed header flags"},
		{"DISCONNECT flags", V5, pk(0xE4), 0, MalformedPacket, "DISCONNECT fixed header flags"},
		{"AUTH flags", V5, pk(0xF1), 0, MalformedPacket, "AUTH fixed header flags"},
		{"PUBLISH QoS 3", V311, pk(0x36, str("a"), 0, 1), 0, MalformedPacket, "PUBLISH QoS 3"},
		{"PUBLISH DUP at QoS 0", V311, pk(0x38, str("a")), 0, MalformedPacket, "PUBLISH DUP"},

		// Packet identifiers [MQTT-2.2.1-3].
		{"PUBLISH packet identifier 0", V311, pk(0x32, str("a"), 0, 0), 0, ProtocolError, "PUBLISH packet identifier"},
		{"PUBACK packet identifier 0", V5, pk(0x40, 0, 0), 0, ProtocolError, "PUBACK packet identifier"},
		{"PUBREL packet identifier 0", V311, pk(0x62, 0, 0), 0, ProtocolError, "PUBREL packet identifier"},
		{"SUBSCRIBE packet identifier 0", V311, pk(0x82, 0, 0, str("a"), 0), 0, ProtocolError, "SUBSCRIBE packet identifier"},
		{"UNSUBSCRIBE packet identifier 0", V5, pk(0xA2, 0, 0, 0, str("a")), 0, ProtocolError, "UNSUBSCRIBE packet identifier"},
		{"SUBACK packet identifier 0", V311, pk(0x90, 0, 0, 0), 0, ProtocolError, "SUBACK packet identifier"},

		// Variable byte integers [MQTT-1.5.5-1].
		{"remaining length 5 bytes", V311, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 0, MalformedPacket, "remaining length"},
		{"property length 5 bytes", V5, pk(0x30, str("a"), 0xFF, 0xFF, 0xFF, 0xFF, 0x01), 0, MalformedPacket, "property length"},
		{"property length truncated", V5, pk(0x30, str("a"), 0xFF), 0, MalformedPacket, "property length"},
		{"property length beyond packet", V5, pk(0x30, str("a"), 9, 1, 1), 0, MalformedPacket, "property length"},
		{"subscription identifier 5 bytes", V5, pk(0x30, str("a"), 6, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), 0, MalformedPacket, "subscription-identifier"},
		{"remaining length beyond maximum", V311, pk(0x30, str("a"), "payload"), 8, PacketTooLarge, "maximum packet size"},

		// UTF-8 strings [MQTT-1.5.4-1..3].
		{"topic ill-formed UTF-8", V311, pk(0x30, str("a\xC3\x28")), 0, MalformedPacket, "PUBLISH topic name"},
		{"topic U+0000", V311, pk(0x30, str("a\x00b")), 0, MalformedPacket, "PUBLISH topic name"},
		{"topic surrogate", V311, pk(0x30, str("a\xED\xA0\x80")), 0, MalformedPacket, "PUBLISH topic name"},
		{"topic overlong NUL", V311, pk(0x30, str("a\xC0\x80")), 0, MalformedPacket, "PUBLISH topic name"},
		{"client identifier U+0000 after non-ASCII", V311, pk(0x10, connectHead("MQTT", 4, 2), str("é\x00")), 0, MalformedPacket, "CONNECT client identifier"},
		{"user name surrogate", V311, pk(0x10, connectHead("MQTT", 4, 0x82), str("c"), str("\xED\xBF\xBF")), 0, MalformedPacket, "CONNECT user name"},
		{"user property key ill-formed", V5, pk(0x30, str("a"), 5, 0x26, str("\xFF"), 0, 0), 0, MalformedPacket, "user-property"},
		{"filter ill-formed UTF-8", V311, pk(0x82, 0, 1, str("\xFE"), 0), 0, MalformedPacket, "SUBSCRIBE topic filter"},

		// Topic names and filters [MQTT-4.7].
		{"topic name with +", V311, pk(0x30, str("a/+")), 0, TopicNameInvalid, "PUBLISH topic name"},
		{"topic name with #", V5, pk(0x30, str("a/#"), 0), 0, TopicNameInvalid, "PUBLISH topic name"},
		{"topic name empty 3.1.1", V311, pk(0x30, str("")), 0, TopicNameInvalid, "PUBLISH topic name"},
		{"topic name empty 5.0 without alias", V5, pk(0x30, str(""), 0), 0, ProtocolError, "PUBLISH topic name empty and no topic alias"},
		{"will topic with wildcard", V311, pk(0x10, connectHead("MQTT", 4, 0x06), str("c"), str("w/#"), str("")), 0, TopicNameInvalid, "will topic"},
		{"filter + not whole level", V311, pk(0x82, 0, 1, str("a/b+"), 0), 0, TopicFilterInvalid, "'+'"},
		{"filter # not whole level", V311, pk(0x82, 0, 1, str("a#"), 0), 0, TopicFilterInvalid, "'#'"},
		{"filter # not last", V5, pk(0x82, 0, 1, 0, str("a/#/b"), 0), 0, TopicFilterInvalid, "'#'"},
		{"filter empty", V311, pk(0x82, 0, 1, str(""), 0), 0, TopicFilterInvalid, "topic filter empty"},
		{"unsubscribe filter invalid", V311, pk(0xA2, 0, 1, str("a+")), 0, TopicFilterInvalid, "UNSUBSCRIBE"},
		{"shared subscription without filter", V5, pk(0x82, 0, 1, 0, str("$share/g/"), 0), 0, TopicFilterInvalid, "shared subscription"},
		{"shared subscription wildcard group", V5, pk(0x82, 0, 1, 0, str("$share/g+/a"), 0), 0, TopicFilterInvalid, "share name"},

		// CONNECT [MQTT-3.1.2].
		{"CONNECT reserved flag", V311, pk(0x10, connectHead("MQTT", 4, 0x03), str("c")), 0, MalformedPacket, "CONNECT reserved flag"},
		{"will QoS without will flag", V311, pk(0x10, connectHead("MQTT", 4, 0x0A), str("c")), 0, MalformedPacket, "will QoS"},
		{"will retain without will flag", V5, pk(0x10, connectHead("MQTT", 5, 0x22), 0, str("c")), 0, MalformedPacket, "will QoS or retain"},
		{"will QoS 3", V311, pk(0x10, connectHead("MQTT", 4, 0x1E), str("c"), str("w"), str("")), 0, MalformedPacket, "will QoS 3"},
		{"password without user name 3.1.1", V311, pk(0x10, connectHead("MQTT", 4, 0x42), str("c"), str("p")), 0, MalformedPacket, "password without user name"},
		{"password without user name 3.1", V31, pk(0x10, connectHead("MQIsdp", 3, 0x42), str("c"), str("p")), 0, MalformedPacket, "password without user name"},
		{"authentication data without method", V5, pk(0x10, connectHead("MQTT", 5, 2), 4, 0x16, str("x"), str("c")), 0, ProtocolError, "authentication data"},
		{"CONNECT protocol name truncated", V311, pk(0x10, 0, 4, "MQ"), 0, MalformedPacket, "CONNECT protocol name"},
		{"CONNECT keep alive truncated", V311, pk(0x10, str("MQTT"), 4, 2, 0), 0, MalformedPacket, "CONNECT keep alive"},
		{"CONNECT client identifier missing", V311, pk(0x10, connectHead("MQTT", 4, 2)), 0, MalformedPacket, "CONNECT client identifier"},
		{"CONNECT will payload missing", V311, pk(0x10, connectHead("MQTT", 4, 0x06), str("c"), str("w")), 0, MalformedPacket, "CONNECT will payload"},
		{"CONNECT password truncated", V5, pk(0x10, connectHead("MQTT", 5, 0x42), 0, str("c"), 0, 5, "ab"), 0, MalformedPacket, "CONNECT password"},
		{"CONNECT trailing bytes", V311, pk(0x10, connectHead("MQTT", 4, 2), str("c"), 0), 0, MalformedPacket, "trailing"},
		{"will property not allowed", V5, pk(0x10, connectHead("MQTT", 5, 0x06), 0, str("c"), 5, 0x11, 0, 0, 0, 1, str("w"), str("")), 0, MalformedPacket, "will: property session-expiry-interval not allowed"},

		// CONNACK.
		{"CONNACK reserved flags", V311, pk(0x20, 0x02, 0), 0, MalformedPacket, "CONNACK reserved flags"},
		{"CONNACK return code 6", V311, pk(0x20, 0, 6), 0, MalformedPacket, "CONNACK return code"},
		{"CONNACK reason code not for CONNACK", V5, pk(0x20, 0, 0x10, 0), 0, ProtocolError, "CONNACK reason code"},
		{"CONNACK without property length", V5, pk(0x20, 0, 0), 0, MalformedPacket, "property length"},
		{"CONNACK truncated", V311, pk(0x20, 0), 0, MalformedPacket, "CONNACK reason code"},

		// Packet types and lengths.
		{"packet type 0", V311, pk(0x00), 0, MalformedPacket, "unknown packet type 0"},
		{"AUTH at 3.1.1", V311, pk(0xF0), 0, MalformedPacket, "AUTH at protocol level 4"},
		{"AUTH at 3.1", V31, pk(0xF0), 0, MalformedPacket, "AUTH at protocol level 3"},
		{"PUBACK trailing bytes 3.1.1", V311, pk(0x40, 0, 1, 0), 0, MalformedPacket, "PUBACK: 1 trailing bytes"},
		{"PUBACK truncated", V311, pk(0x40, 0), 0, MalformedPacket, "PUBACK packet identifier"},
		{"PINGREQ trailing bytes", V311, pk(0xC0, 0), 0, MalformedPacket, "PINGREQ: 1 trailing bytes"},
		{"DISCONNECT trailing bytes 3.1.1", V311, pk(0xE0, 0), 0, MalformedPacket, "DISCONNECT: 1 trailing bytes"},
		{"UNSUBACK trailing bytes 3.1.1", V311, pk(0xB0, 0, 1, 0), 0, MalformedPacket, "UNSUBACK: 1 trailing bytes"},
		{"PUBACK properties trailing bytes", V5, pk(0x40, 0, 1, 0x10, 0, 0), 0, MalformedPacket, "PUBACK: 1 trailing bytes"},
		{"PUBLISH topic truncated", V311, pk(0x30, 0, 5, "ab"), 0, MalformedPacket, "PUBLISH topic name"},
		{"PUBLISH packet identifier truncated", V311, pk(0x32, str("a"), 1), 0, MalformedPacket, "PUBLISH packet identifier"},

		// Properties [MQTT-2.2.2].
		{"property not allowed on PUBLISH", V5, pk(0x30, str("a"), 5, 0x11, 0, 0, 0, 1), 0, MalformedPacket, "PUBLISH: property session-expiry-interval not allowed"},
		{"property not allowed on PUBACK", V5, pk(0x40, 0, 1, 0, 3, 0x23, 0, 1), 0, MalformedPacket, "PUBACK: property topic-alias not allowed"},
		{"unknown property", V5, pk(0x30, str("a"), 2, 0x7F, 0), 0, MalformedPacket, "unknown property identifier 0x7F"},
		{"property repeated", V5, pk(0x30, str("a"), 10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2), 0, ProtocolError, "message-expiry-interval repeated"},
		{"reason string repeated", V5, pk(0xE0, 0x80, 8, 0x1F, str("a"), 0x1F, str("b")), 0, ProtocolError, "reason-string repeated"},
		{"subscription identifier repeated on SUBSCRIBE", V5, pk(0x82, 0, 1, 4, 0x0B, 1, 0x0B, 2, str("a"), 0), 0, ProtocolError, "subscription-identifier repeated"},
		{"payload format indicator 2", V5, pk(0x30, str("a"), 2, 0x01, 2), 0, ProtocolError, "payload-format-indicator is 2"},
		{"request problem information 2", V5, pk(0x10, connectHead("MQTT", 5, 2), 2, 0x17, 2, str("c")), 0, ProtocolError, "request-problem-information"},
		{"maximum QoS 2", V5, pk(0x20, 0, 0, 2, 0x24, 2), 0, ProtocolError, "maximum-qos"},
		{"receive maximum 0", V5, pk(0x10, connectHead("MQTT", 5, 2), 3, 0x21, 0, 0, str("c")), 0, ProtocolError, "receive-maximum is 0"},
		{"topic alias 0", V5, pk(0x30, str("a"), 3, 0x23, 0, 0), 0, ProtocolError, "topic-alias is 0"},
		{"maximum packet size 0", V5, pk(0x20, 0, 0, 5, 0x27, 0, 0, 0, 0), 0, ProtocolError, "maximum-packet-size is 0"},
		{"subscription identifier 0", V5, pk(0x82, 0, 1, 2, 0x0B, 0, str("a"), 0), 0, ProtocolError, "subscription-identifier is 0"},
		{"response topic with wildcard", V5, pk(0x30, str("a"), 6, 0x08, str("r/#")), 0, ProtocolError, "response-topic"},
		{"will response topic empty", V5, pk(0x10, connectHead("MQTT", 5, 0x06), 0, str("c"), 3, 0x08, str(""), str("w"), str("")), 0, ProtocolError, "will: response-topic"},
		{"property value truncated", V5, pk(0x30, str("a"), 3, 0x02, 0, 0), 0, MalformedPacket, "message-expiry-interval"},

		// SUBSCRIBE, SUBACK, UNSUBSCRIBE [MQTT-3.8.3] [MQTT-3.10.3].
		{"SUBSCRIBE without filters", V311, pk(0x82, 0, 1), 0, ProtocolError, "SUBSCRIBE has no topic filter"},
		{"SUBSCRIBE without filters 5.0", V5, pk(0x82, 0, 1, 0), 0, ProtocolError, "SUBSCRIBE has no topic filter"},
		{"SUBSCRIBE options missing", V311, pk(0x82, 0, 1, str("a")), 0, MalformedPacket, "SUBSCRIBE options"},
		{"SUBSCRIBE QoS 3", V311, pk(0x82, 0, 1, str("a"), 3), 0, MalformedPacket, "SUBSCRIBE QoS 3"},
		{"SUBSCRIBE no local bit at 3.1.1", V311, pk(0x82, 0, 1, str("a"), 0x04), 0, MalformedPacket, "reserved bits"},
		{"SUBSCRIBE reserved option bits 5.0", V5, pk(0x82, 0, 1, 0, str("a"), 0x40), 0, MalformedPacket, "reserved bits"},
		{"SUBSCRIBE retain handling 3", V5, pk(0x82, 0, 1, 0, str("a"), 0x30), 0, ProtocolError, "retain handling 3"},
		{"SUBSCRIBE no local on shared", V5, pk(0x82, 0, 1, 0, str("$share/g/a"), 0x04), 0, ProtocolError, "no local on shared"},
		{"SUBACK return code 3 at 3.1.1", V311, pk(0x90, 0, 1, 3), 0, MalformedPacket, "SUBACK return code"},
		{"SUBACK reason code not for SUBACK", V5, pk(0x90, 0, 1, 0, 0x92), 0, ProtocolError, "SUBACK reason code"},
		{"SUBACK without codes", V311, pk(0x90, 0, 1), 0, ProtocolError, "SUBACK has no reason codes"},
		{"UNSUBSCRIBE without filters", V311, pk(0xA2, 0, 1), 0, ProtocolError, "UNSUBSCRIBE has no topic filter"},
		{"UNSUBACK 5.0 without codes", V5, pk(0xB0, 0, 1, 0), 0, ProtocolError, "UNSUBACK has no reason codes"},

		// Reason codes in acknowledgements.
		{"PUBACK reason code not for PUBACK", V5, pk(0x40, 0, 1, 0x92), 0, ProtocolError, "PUBACK reason code"},
		{"PUBREL reason code not for PUBREL", V5, pk(0x62, 0, 1, 0x80), 0, ProtocolError, "PUBREL reason code"},
		{"DISCONNECT reason code not for DISCONNECT", V5, pk(0xE0, 0x18), 0, ProtocolError, "DISCONNECT reason code"},
		{"AUTH without method", V5, pk(0xF0, 0x18, 0), 0, ProtocolError, "AUTH without authentication method"},
		{"AUTH data without method", V5, pk(0xF0, 0x18, 4, 0x16, str("x")), 0, ProtocolError, "AUTH without authentication method"},
		{"AUTH reason code not for AUTH", V5, pk(0xF0, 0x87), 0, ProtocolError, "AUTH reason code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Read(bytes.NewReader(tt.in), tt.v, tt.maxSize)
			if err == nil {
				t.Fatalf("Read(% x, %v) = %+v, nil; want error %v", tt.in, tt.v, p, tt.want)
			}
			var code ReasonCode
			if !errors.As(err, &code) || code != tt.want {
				t.Errorf("Read(% x, %v) error %q carries reason %v, want %v", tt.in, tt.v, err, code, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%q, %v) = false", err, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.field) || !strings.HasPrefix(msg, "packet: ") || strings.Count(msg, "packet: ") > 1 || strings.Contains(msg, "\n") {
				t.Errorf("Read(% x, %v) error %q: want one line starting \"packet: \" (once) naming %q", tt.in, tt.v, msg, tt.field)
			}
			if p != nil {
				t.Errorf("Read(% x, %v) returned packet %+v with error", tt.in, tt.v, p)
			}
			// Decode gives the same answer when the length was in range.
			if tt.maxSize == 0 && len(tt.in) > 1 && tt.in[1] < 0x80 {
				_, derr := Decode(tt.in[0], tt.in[2:], tt.v)
				if !errors.Is(derr, tt.want) {
					t.Errorf("Decode(%02x, % x, %v) error %v, want %v", tt.in[0], tt.in[2:], tt.v, derr, tt.want)
				}
			}
		})
	}
	if len(tests) < 40 {
		t.Errorf("only %d malformed cases", len(tests))
	}
}

func TestUnsupportedProtocol(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		pname string
		level Version
	}{
		{"MQTT level 3", pk(0x10, connectHead("MQTT", 3, 2), str("c")), "MQTT", 3},
		{"MQTT level 6", pk(0x10, connectHead("MQTT", 6, 2), str("c")), "MQTT", 6},
		{"MQIsdp level 4", pk(0x10, connectHead("MQIsdp", 4, 2), str("c")), "MQIsdp", 4},
		{"unknown name", pk(0x10, connectHead("MQTX", 4, 2), str("c")), "MQTX", 4},
		{"lower case name", pk(0x10, connectHead("mqtt", 5, 2), str("c")), "mqtt", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Read(bytes.NewReader(tt.in), V5, 0)
			if !errors.Is(err, UnsupportedProtocolVersion) {
				t.Fatalf("Read(% x) error %v, want %v", tt.in, err, UnsupportedProtocolVersion)
			}
			if !strings.Contains(err.Error(), "CONNECT protocol") {
				t.Errorf("Read(% x) error %q does not name the protocol", tt.in, err)
			}
			c, ok := p.(*Connect)
			if !ok || c.ProtocolName != tt.pname || c.Version != tt.level {
				t.Errorf("Read(% x) packet = %#v, want *Connect{ProtocolName: %q, Version: %d}", tt.in, p, tt.pname, tt.level)
			}
		})
	}
}

func TestReadIOErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"remaining length missing", []byte{0x30}, io.ErrUnexpectedEOF},
		{"remaining length cut", []byte{0x30, 0x80}, io.ErrUnexpectedEOF},
		{"body short", []byte{0x30, 0x05, 0x00, 0x01}, io.ErrUnexpectedEOF},
		{"body missing", []byte{0x40, 0x02}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, rd := range readerKinds {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				p, err := Read(rd.wrap(tt.in), V311, 0)
				if p != nil || !errors.Is(err, tt.want) {
					t.Errorf("Read(% x) = %v, %v; want nil, %v", tt.in, p, err, tt.want)
				}
				var code ReasonCode
				if errors.As(err, &code) {
					t.Errorf("Read(% x) error %v carries reason %v; an I/O error should not", tt.in, err, code)
				}
			})
		}
	}
}

// readerKinds covers both paths of Read: io.ByteReader and plain io.Reader.
var readerKinds = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"ByteReader", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"Reader", func(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }},
}

func TestReadRemainingLength(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"5 bytes", []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, MalformedPacket},
		{"4 bytes maximum", append([]byte{0xC0, 0xFF, 0xFF, 0xFF, 0x7F}, 0), PacketTooLarge},
		{"non-minimal zero", []byte{0xC0, 0x80, 0x00}, nil},
		{"2 bytes", pk(0x30, str("t"), bytes.Repeat([]byte{'x'}, 127)), nil}, // 30 82 01 ...
	}
	for _, tt := range tests {
		for _, rd := range readerKinds {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				_, err := Read(rd.wrap(tt.in), V311, 1000)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Errorf("Read(% x) error %v, want %v", tt.in, err, tt.want)
				}
			})
		}
	}
}

// hugeReader announces a remaining length of 268,435,455 bytes but holds
// only a few; it counts what is read from it.
type hugeReader struct {
	data []byte
	read int
}

func (r *hugeReader) Read(p []byte) (int, error) {
	if r.read >= len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.read:])
	r.read += n
	return n, nil
}

func TestPacketTooLargeBeforeAllocating(t *testing.T) {
	hdr := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F} // PUBLISH, remaining length 268435455
	for _, max := range []int{1024, 268435455} {
		r := &hugeReader{data: append(hdr, 0x00, 0x01, 'a')}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := Read(r, V311, max)
		runtime.ReadMemStats(&after)
		if p != nil || !errors.Is(err, PacketTooLarge) {
			t.Fatalf("Read(max %d) = %v, %v; want %v", max, p, err, PacketTooLarge)
		}
		if r.read > len(hdr) {
			t.Errorf("Read(max %d) consumed %d bytes, want only the %d-byte fixed header", max, r.read, len(hdr))
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("Read(max %d) allocated %d bytes before rejecting the length", max, d)
		}
	}
}
