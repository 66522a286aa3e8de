package packet

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Read reads one control packet from r. v is the protocol level agreed in
// CONNECT; a CONNECT is decoded at the level it carries. maxSize bounds the
// whole packet in bytes (0: the protocol maximum); a larger packet fails with
// PacketTooLarge before its body is allocated or read.
//
// Errors wrap a ReasonCode (errors.As) naming what a server must answer
// with, and io.EOF is returned as is when r ends before the first byte.
// For a CONNECT with an unsupported protocol name or level, Read returns the
// partly decoded *Connect together with UnsupportedProtocolVersion, so the
// caller can answer at the right level.
//
// Read reads the fixed header a byte at a time, cheaply when r is an
// io.ByteReader: give it a bufio.Reader, not a bare net.Conn.
func Read(r io.Reader, v Version, maxSize int) (Packet, error) {
	var first byte
	var remaining, n int
	var err error
	if br, ok := r.(io.ByteReader); ok {
		if first, err = br.ReadByte(); err != nil {
			return nil, err
		}
		remaining, n, err = readVarintBytes(br)
	} else {
		var hdr [1]byte
		if _, err = io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		first = hdr[0]
		remaining, n, err = readVarint(r)
	}
	if err != nil {
		return nil, err
	}
	if maxSize <= 0 || maxSize > MaxRemainingLength+5 {
		maxSize = MaxRemainingLength + 5
	}
	if 1+n+remaining > maxSize {
		return nil, fmt.Errorf("packet: %s of %d bytes exceeds maximum packet size %d: %w",
			Type(first>>4), 1+n+remaining, maxSize, PacketTooLarge)
	}
	var pub *Publish
	var body []byte
	if remaining > growThreshold {
		body, err = readGrowing(r, remaining)
	} else {
		if Type(first>>4) == PUBLISH {
			pub, body = newPublish(remaining)
		} else {
			body = make([]byte, remaining)
		}
		_, err = io.ReadFull(r, body)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("packet: read %s body: %w", Type(first>>4), err)
	}
	return decodeInto(first, body, v, pub)
}

// growThreshold is the body size above which Read allocates as the bytes
// arrive instead of up front, so a peer that announces a huge remaining
// length and then sends little costs little memory.
const growThreshold = 64 << 10

// readGrowing reads n bytes into a buffer that at most doubles per step.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, growThreshold)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := make([]byte, len(buf), min(2*cap(buf), n))
			copy(next, buf)
			buf = next
		}
		m, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// newPublish returns a Publish and a body of n bytes for it. A small body
// shares the Publish's allocation, sized to fill a malloc size class, so a
// typical PUBLISH costs two allocations (this and its topic) instead of three.
func newPublish(n int) (*Publish, []byte) {
	switch {
	case n <= 48:
		h := new(struct {
			p Publish
			b [48]byte
		})
		return &h.p, h.b[:n:n]
	case n <= 112:
		h := new(struct {
			p Publish
			b [112]byte
		})
		return &h.p, h.b[:n:n]
	case n <= 208:
		h := new(struct {
			p Publish
			b [208]byte
		})
		return &h.p, h.b[:n:n]
	}
	return new(Publish), make([]byte, n)
}

// readVarint reads the remaining length from a reader that cannot read
// single bytes cheaply.
func readVarint(r io.Reader) (v, n int, err error) {
	var b [1]byte
	mul := 1
	for n = 0; n < 4; n++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, 0, varintReadError(err)
		}
		v += int(b[0]&0x7F) * mul
		if b[0]&0x80 == 0 {
			return v, n + 1, nil
		}
		mul <<= 7
	}
	return 0, 0, fmt.Errorf("packet: remaining length longer than 4 bytes: %w", MalformedPacket) // [MQTT-1.5.5-1]
}

// readVarintBytes reads the remaining length from an io.ByteReader such as
// a bufio.Reader, without a call through io.ReadFull per byte.
func readVarintBytes(r io.ByteReader) (v, n int, err error) {
	mul := 1
	for n = 0; n < 4; n++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, 0, varintReadError(err)
		}
		v += int(c&0x7F) * mul
		if c&0x80 == 0 {
			return v, n + 1, nil
		}
		mul <<= 7
	}
	return 0, 0, fmt.Errorf("packet: remaining length longer than 4 bytes: %w", MalformedPacket) // [MQTT-1.5.5-1]
}

func varintReadError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("packet: read remaining length: %w", err)
}

// Decode decodes a packet from its first byte and its body (the bytes after
// the remaining length). Byte slices in the result alias body.
//
// On error the packet is nil, except for the *Connect that comes with
// UnsupportedProtocolVersion (see Read).
func Decode(first byte, body []byte, v Version) (Packet, error) {
	return decodeInto(first, body, v, nil)
}

// decodeInto is Decode; a PUBLISH is decoded into pub when it is not nil.
func decodeInto(first byte, body []byte, v Version, pub *Publish) (Packet, error) {
	p, err := decode(first, body, v, pub)
	if err != nil {
		if c, ok := p.(*Connect); ok && c != nil && errors.Is(err, UnsupportedProtocolVersion) {
			return c, err
		}
		return nil, err
	}
	return p, nil
}

func decode(first byte, body []byte, v Version, pub *Publish) (Packet, error) {
	t := Type(first >> 4)
	flags := first & 0x0F
	if t != PUBLISH {
		want := byte(0)
		if t == PUBREL || t == SUBSCRIBE || t == UNSUBSCRIBE {
			want = 2
			if v == V31 {
				// MQTT 3.1 sets DUP when it resends these; 3.1.1 made the
				// bits reserved [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1].
				flags &^= 0x08
			}
		}
		if flags != want {
			return nil, fmt.Errorf("packet: %s fixed header flags %04b, want %04b: %w", t, flags, want, MalformedPacket)
		}
	}
	d := decoder{b: body}
	switch t {
	case CONNECT:
		return decodeConnect(&d)
	case CONNACK:
		return decodeConnack(&d, v)
	case PUBLISH:
		return decodePublish(&d, flags, v, pub)
	case PUBACK:
		p := &Puback{}
		return p, decodeAck(&d, t, v, &p.PacketID, &p.ReasonCode, &p.Props)
	case PUBREC:
		p := &Pubrec{}
		return p, decodeAck(&d, t, v, &p.PacketID, &p.ReasonCode, &p.Props)
	case PUBREL:
		p := &Pubrel{}
		return p, decodeAck(&d, t, v, &p.PacketID, &p.ReasonCode, &p.Props)
	case PUBCOMP:
		p := &Pubcomp{}
		return p, decodeAck(&d, t, v, &p.PacketID, &p.ReasonCode, &p.Props)
	case SUBSCRIBE:
		return decodeSubscribe(&d, v)
	case SUBACK:
		p := &Suback{}
		return p, decodeAckList(&d, t, v, &p.PacketID, &p.Props, &p.ReasonCodes)
	case UNSUBSCRIBE:
		return decodeUnsubscribe(&d, v)
	case UNSUBACK:
		p := &Unsuback{}
		return p, decodeAckList(&d, t, v, &p.PacketID, &p.Props, &p.ReasonCodes)
	case PINGREQ:
		return &Pingreq{}, d.end(t)
	case PINGRESP:
		return &Pingresp{}, d.end(t)
	case DISCONNECT:
		p := &Disconnect{}
		return p, decodeReasonProps(&d, t, v, &p.ReasonCode, &p.Props)
	case AUTH:
		if v != V5 {
			return nil, fmt.Errorf("packet: AUTH at protocol level %d: %w", v, MalformedPacket)
		}
		p := &Auth{}
		if err := decodeReasonProps(&d, t, v, &p.ReasonCode, &p.Props); err != nil {
			return nil, err
		}
		// Only the short form, Success without properties, may leave out
		// the method (section 3.15.2.2.2).
		if len(body) > 0 && !p.Props.Has(PropAuthMethod) {
			return nil, fmt.Errorf("packet: AUTH without authentication method: %w", ProtocolError)
		}
		return p, nil
	}
	return nil, fmt.Errorf("packet: unknown packet type %d: %w", byte(t), MalformedPacket)
}

func decodeConnect(d *decoder) (*Connect, error) {
	p := &Connect{}
	var err error
	if p.ProtocolName, err = d.str("CONNECT protocol name"); err != nil {
		return nil, err
	}
	level, err := d.byte1("CONNECT protocol level")
	if err != nil {
		return nil, err
	}
	p.Version = Version(level)
	switch {
	case p.ProtocolName == "MQTT" && (p.Version == V311 || p.Version == V5):
	case p.ProtocolName == "MQIsdp" && p.Version == V31:
	default:
		// [MQTT-3.1.2-1] [MQTT-3.1.2-2]
		return p, fmt.Errorf("packet: CONNECT protocol %q level %d: %w", p.ProtocolName, level, UnsupportedProtocolVersion)
	}
	flags, err := d.byte1("CONNECT flags")
	if err != nil {
		return nil, err
	}
	if flags&0x01 != 0 && p.Version != V31 {
		// MQTT 3.1 left bit 0 unused; 3.1.1 made it reserved.
		return nil, fmt.Errorf("packet: CONNECT reserved flag set: %w", MalformedPacket) // [MQTT-3.1.2-3]
	}
	p.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := QoS(flags >> 3 & 0x03)
	willRetain := flags&0x20 != 0
	p.PasswordFlag = flags&0x40 != 0
	p.UsernameFlag = flags&0x80 != 0
	if !willFlag && (willQoS != 0 || willRetain) {
		return nil, fmt.Errorf("packet: CONNECT will QoS or retain set without will flag: %w", MalformedPacket) // [MQTT-3.1.2-11] [MQTT-3.1.2-13]
	}
	if willQoS > ExactlyOnce {
		return nil, fmt.Errorf("packet: CONNECT will QoS 3: %w", MalformedPacket) // [MQTT-3.1.2-14]
	}
	if p.Version != V5 && p.PasswordFlag && !p.UsernameFlag {
		return nil, fmt.Errorf("packet: CONNECT password without user name: %w", MalformedPacket) // [MQTT-3.1.2-22]
	}
	if p.KeepAlive, err = d.uint16("CONNECT keep alive"); err != nil {
		return nil, err
	}
	if p.Version == V5 {
		if err := decodeProps(d, &p.Props, CONNECT); err != nil {
			return nil, err
		}
		if p.Props.Has(PropAuthData) && !p.Props.Has(PropAuthMethod) {
			return nil, fmt.Errorf("packet: CONNECT authentication data without method: %w", ProtocolError)
		}
	}
	if p.ClientID, err = d.str("CONNECT client identifier"); err != nil {
		return nil, err
	}
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if p.Version == V5 {
			if err := decodeProps(d, &w.Props, willTarget); err != nil {
				return nil, err
			}
		}
		if w.Topic, err = d.str("CONNECT will topic"); err != nil {
			return nil, err
		}
		if err := ValidTopicName(w.Topic); err != nil {
			return nil, fmt.Errorf("packet: CONNECT will topic: %w", err)
		}
		if w.Payload, err = d.binary("CONNECT will payload"); err != nil {
			return nil, err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		if p.Username, err = d.str("CONNECT user name"); err != nil {
			return nil, err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = d.binary("CONNECT password"); err != nil {
			return nil, err
		}
	}
	return p, d.end(CONNECT)
}

func decodeConnack(d *decoder, v Version) (*Connack, error) {
	p := &Connack{}
	flags, err := d.byte1("CONNACK flags")
	if err != nil {
		return nil, err
	}
	if v != V31 && flags&0xFE != 0 {
		return nil, fmt.Errorf("packet: CONNACK reserved flags %08b: %w", flags, MalformedPacket) // [MQTT-3.2.2-1]
	}
	// MQTT 3.1 has no session present flag; its first byte is unused.
	p.SessionPresent = v != V31 && flags&0x01 != 0
	rc, err := d.byte1("CONNACK reason code")
	if err != nil {
		return nil, err
	}
	if v != V5 {
		code, ok := ConnackFromV3(rc)
		if !ok {
			return nil, fmt.Errorf("packet: CONNACK return code %d: %w", rc, MalformedPacket)
		}
		p.ReasonCode = code
		return p, d.end(CONNACK)
	}
	p.ReasonCode = ReasonCode(rc)
	if !validReason(CONNACK, p.ReasonCode) {
		return nil, fmt.Errorf("packet: CONNACK reason code 0x%02X: %w", rc, ProtocolError)
	}
	if err := decodeProps(d, &p.Props, CONNACK); err != nil {
		return nil, err
	}
	return p, d.end(CONNACK)
}

func decodePublish(d *decoder, flags byte, v Version, p *Publish) (*Publish, error) {
	if p == nil {
		p = new(Publish)
	}
	p.Dup, p.QoS, p.Retain = flags&0x08 != 0, QoS(flags>>1&0x03), flags&0x01 != 0
	if p.QoS > ExactlyOnce {
		return nil, fmt.Errorf("packet: PUBLISH QoS 3: %w", MalformedPacket) // [MQTT-3.3.1-4]
	}
	if p.Dup && p.QoS == AtMostOnce {
		return nil, fmt.Errorf("packet: PUBLISH DUP set at QoS 0: %w", MalformedPacket) // [MQTT-3.3.1-2]
	}
	var err error
	if p.Topic, err = d.str("PUBLISH topic name"); err != nil {
		return nil, err
	}
	if p.QoS > AtMostOnce {
		if p.PacketID, err = d.packetID(PUBLISH); err != nil {
			return nil, err
		}
	}
	if v == V5 {
		if err := decodeProps(d, &p.Props, PUBLISH); err != nil {
			return nil, err
		}
	}
	if p.Topic == "" {
		if v != V5 {
			return nil, fmt.Errorf("packet: PUBLISH topic name empty: %w", TopicNameInvalid) // [MQTT-4.7.3-1]
		}
		if !p.Props.Has(PropTopicAlias) {
			// MQTT 5.0 section 3.3.2.3.4: a zero-length Topic Name without a
			// Topic Alias is a Protocol Error.
			return nil, fmt.Errorf("packet: PUBLISH topic name empty and no topic alias: %w", ProtocolError)
		}
	} else if err := validTopicName(p.Topic, false); err != nil {
		return nil, fmt.Errorf("packet: PUBLISH topic name: %w", err) // [MQTT-3.3.2-2]
	}
	p.Payload = d.b[:len(d.b):len(d.b)]
	d.b = nil
	return p, nil
}

func decodeAck(d *decoder, t Type, v Version, id *uint16, rc *ReasonCode, props *Properties) error {
	var err error
	if *id, err = d.packetID(t); err != nil {
		return err
	}
	if v != V5 || len(d.b) == 0 {
		return d.end(t)
	}
	if err := decodeReasonProps(d, t, v, rc, props); err != nil {
		return err
	}
	return nil
}

// decodeReasonProps reads the optional reason code and properties that end
// v5 acknowledgements, DISCONNECT and AUTH (sections 3.4.2.1, 3.14.2.1, 3.15.2.1).
func decodeReasonProps(d *decoder, t Type, v Version, rc *ReasonCode, props *Properties) error {
	if v != V5 || len(d.b) == 0 {
		return d.end(t)
	}
	b := d.b[0]
	d.b = d.b[1:]
	*rc = ReasonCode(b)
	if !validReason(t, *rc) {
		return fmt.Errorf("packet: %s reason code 0x%02X: %w", t, b, ProtocolError)
	}
	if len(d.b) == 0 {
		return nil
	}
	if err := decodeProps(d, props, t); err != nil {
		return err
	}
	return d.end(t)
}

func decodeAckList(d *decoder, t Type, v Version, id *uint16, props *Properties, codes *[]ReasonCode) error {
	var err error
	if *id, err = d.packetID(t); err != nil {
		return err
	}
	if t == UNSUBACK && v != V5 {
		return d.end(t)
	}
	if v == V5 {
		if err := decodeProps(d, props, t); err != nil {
			return err
		}
	}
	if len(d.b) == 0 {
		return fmt.Errorf("packet: %s has no reason codes: %w", t, ProtocolError)
	}
	*codes = make([]ReasonCode, len(d.b))
	for i, b := range d.b {
		rc := ReasonCode(b)
		if v != V5 {
			if b > 2 && b != 0x80 {
				return fmt.Errorf("packet: SUBACK return code 0x%02X: %w", b, MalformedPacket) // [MQTT-3.9.3-2]
			}
		} else if !validReason(t, rc) {
			return fmt.Errorf("packet: %s reason code 0x%02X: %w", t, b, ProtocolError)
		}
		(*codes)[i] = rc
	}
	d.b = nil
	return nil
}

func decodeSubscribe(d *decoder, v Version) (*Subscribe, error) {
	p := &Subscribe{}
	var err error
	if p.PacketID, err = d.packetID(SUBSCRIBE); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := decodeProps(d, &p.Props, SUBSCRIBE); err != nil {
			return nil, err
		}
	}
	for len(d.b) > 0 {
		var s Subscription
		if s.Filter, err = d.str("SUBSCRIBE topic filter"); err != nil {
			return nil, err
		}
		opts, err := d.byte1("SUBSCRIBE options")
		if err != nil {
			return nil, err
		}
		reserved := byte(0xFC)
		if v == V5 {
			reserved = 0xC0
		}
		if opts&reserved != 0 {
			return nil, fmt.Errorf("packet: SUBSCRIBE options %08b: reserved bits set: %w", opts, MalformedPacket) // [MQTT-3.8.3-5]
		}
		s.QoS = QoS(opts & 0x03)
		if s.QoS > ExactlyOnce {
			return nil, fmt.Errorf("packet: SUBSCRIBE QoS 3 for %q: %w", s.Filter, MalformedPacket) // 3.1.1 [MQTT-3.8.3-4]
		}
		s.NoLocal = opts&0x04 != 0
		s.RetainAsPublished = opts&0x08 != 0
		s.RetainHandling = RetainHandling(opts >> 4 & 0x03)
		if s.RetainHandling == invalidRetainHandling {
			return nil, fmt.Errorf("packet: SUBSCRIBE retain handling 3: %w", ProtocolError)
		}
		if err := ValidTopicFilter(s.Filter); err != nil {
			return nil, fmt.Errorf("packet: SUBSCRIBE: %w", err)
		}
		if s.NoLocal && IsShared(s.Filter) {
			return nil, fmt.Errorf("packet: SUBSCRIBE no local on shared subscription: %w", ProtocolError) // [MQTT-3.8.3-4]
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return nil, fmt.Errorf("packet: SUBSCRIBE has no topic filter: %w", ProtocolError) // [MQTT-3.8.3-3]
	}
	return p, nil
}

func decodeUnsubscribe(d *decoder, v Version) (*Unsubscribe, error) {
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = d.packetID(UNSUBSCRIBE); err != nil {
		return nil, err
	}
	if v == V5 {
		if err := decodeProps(d, &p.Props, UNSUBSCRIBE); err != nil {
			return nil, err
		}
	}
	for len(d.b) > 0 {
		f, err := d.str("UNSUBSCRIBE topic filter")
		if err != nil {
			return nil, err
		}
		if err := ValidTopicFilter(f); err != nil {
			return nil, fmt.Errorf("packet: UNSUBSCRIBE: %w", err)
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return nil, fmt.Errorf("packet: UNSUBSCRIBE has no topic filter: %w", ProtocolError) // [MQTT-3.10.3-2]
	}
	return p, nil
}

var validReasons = map[Type][]ReasonCode{
	CONNACK: {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
		0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F},
	PUBACK:   {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	PUBREC:   {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
	PUBREL:   {0x00, 0x92},
	PUBCOMP:  {0x00, 0x92},
	SUBACK:   {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2},
	UNSUBACK: {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91},
	DISCONNECT: {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
		0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2},
	AUTH: {0x00, 0x18, 0x19},
}

// validReason reports whether rc may be sent in a packet of type t (v5).
func validReason(t Type, rc ReasonCode) bool {
	for _, c := range validReasons[t] {
		if c == rc {
			return true
		}
	}
	return false
}

// ValidReason reports whether MQTT 5 allows reason code rc in a packet of type t.
func ValidReason(t Type, rc ReasonCode) bool { return validReason(t, rc) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// smallPayload is the largest PUBLISH payload Write copies behind the
// header so that the packet goes out in one Write (one system call on a
// net.Conn); larger payloads are written from the caller's slice, uncopied.
const smallPayload = 1024

// Write encodes p at protocol level v and writes it to w: the fixed and
// variable header in one Write, then a PUBLISH payload over 1 KiB,
// uncopied, in a second.
func Write(w io.Writer, p Packet, v Version) error {
	bp := bufPool.Get().(*[]byte)
	hdr, payload, err := appendHeader((*bp)[:0], p, v)
	if err == nil {
		if len(payload) <= smallPayload {
			hdr = append(hdr, payload...)
			payload = nil
		}
		if _, err = w.Write(hdr); err == nil && len(payload) > 0 {
			_, err = w.Write(payload)
		}
		if err != nil {
			err = fmt.Errorf("packet: write %s: %w", p.Type(), err)
		}
	}
	if cap(hdr) <= 64<<10 {
		*bp = hdr[:0]
		bufPool.Put(bp)
	}
	return err
}

// Append appends the encoding of p at protocol level v to dst. It does not
// allocate when dst has room.
func Append(dst []byte, p Packet, v Version) ([]byte, error) {
	out, payload, err := appendHeader(dst, p, v)
	if err != nil {
		return dst, err
	}
	return append(out, payload...), nil
}

// Size returns the number of bytes p takes on the wire at level v, as
// compared with a peer's Maximum Packet Size.
func Size(p Packet, v Version) (int, error) {
	bp := bufPool.Get().(*[]byte)
	hdr, payload, err := appendHeader((*bp)[:0], p, v)
	n := len(hdr) + len(payload)
	*bp = hdr[:0]
	bufPool.Put(bp)
	return n, err
}

// appendHeader appends the fixed header and variable header of p to dst and
// returns the payload that follows them on the wire. Five bytes are reserved
// for the fixed header and the variable header is moved down once its
// length is known.
func appendHeader(dst []byte, p Packet, v Version) ([]byte, []byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0)
	var payload []byte
	var first byte
	var err error
	switch p := p.(type) {
	case *Connect:
		first = byte(CONNECT) << 4
		dst, err = appendConnect(dst, p)
	case *Connack:
		first = byte(CONNACK) << 4
		dst = appendConnack(dst, p, v)
		err = propsErr(v, &p.Props)
	case *Publish:
		if !p.QoS.Valid() {
			return dst[:start], nil, fmt.Errorf("packet: PUBLISH QoS %d: %w", p.QoS, MalformedPacket)
		}
		first = byte(PUBLISH)<<4 | byte(p.QoS)<<1
		if p.Dup {
			first |= 0x08
		}
		if p.Retain {
			first |= 0x01
		}
		err = firstErr(lenErr("PUBLISH topic name", len(p.Topic)), propsErr(v, &p.Props))
		dst = appendString(dst, p.Topic)
		if p.QoS > AtMostOnce {
			dst = appendUint16(dst, p.PacketID)
		}
		if v == V5 {
			dst = appendProps(dst, &p.Props)
		}
		payload = p.Payload
	case *Puback:
		first = byte(PUBACK) << 4
		dst = appendAck(dst, v, p.PacketID, p.ReasonCode, &p.Props)
		err = propsErr(v, &p.Props)
	case *Pubrec:
		first = byte(PUBREC) << 4
		dst = appendAck(dst, v, p.PacketID, p.ReasonCode, &p.Props)
		err = propsErr(v, &p.Props)
	case *Pubrel:
		first = byte(PUBREL)<<4 | 0x02
		dst = appendAck(dst, v, p.PacketID, p.ReasonCode, &p.Props)
		err = propsErr(v, &p.Props)
	case *Pubcomp:
		first = byte(PUBCOMP) << 4
		dst = appendAck(dst, v, p.PacketID, p.ReasonCode, &p.Props)
		err = propsErr(v, &p.Props)
	case *Subscribe:
		first = byte(SUBSCRIBE)<<4 | 0x02
		err = propsErr(v, &p.Props)
		dst = appendUint16(dst, p.PacketID)
		if v == V5 {
			dst = appendProps(dst, &p.Props)
		}
		for _, s := range p.Subscriptions {
			err = firstErr(err, lenErr("SUBSCRIBE topic filter", len(s.Filter)))
			dst = appendString(dst, s.Filter)
			opts := byte(s.QoS & 0x03)
			if v == V5 {
				if s.NoLocal {
					opts |= 0x04
				}
				if s.RetainAsPublished {
					opts |= 0x08
				}
				opts |= byte(s.RetainHandling&0x03) << 4
			}
			dst = append(dst, opts)
		}
	case *Suback:
		first = byte(SUBACK) << 4
		err = propsErr(v, &p.Props)
		dst = appendUint16(dst, p.PacketID)
		if v == V5 {
			dst = appendProps(dst, &p.Props)
		}
		for _, rc := range p.ReasonCodes {
			if v != V5 {
				dst = append(dst, rc.SubackV3())
			} else {
				dst = append(dst, byte(rc))
			}
		}
	case *Unsubscribe:
		first = byte(UNSUBSCRIBE)<<4 | 0x02
		err = propsErr(v, &p.Props)
		dst = appendUint16(dst, p.PacketID)
		if v == V5 {
			dst = appendProps(dst, &p.Props)
		}
		for _, f := range p.Filters {
			err = firstErr(err, lenErr("UNSUBSCRIBE topic filter", len(f)))
			dst = appendString(dst, f)
		}
	case *Unsuback:
		first = byte(UNSUBACK) << 4
		err = propsErr(v, &p.Props)
		dst = appendUint16(dst, p.PacketID)
		if v == V5 {
			dst = appendProps(dst, &p.Props)
			for _, rc := range p.ReasonCodes {
				dst = append(dst, byte(rc))
			}
		}
	case *Pingreq:
		first = byte(PINGREQ) << 4
	case *Pingresp:
		first = byte(PINGRESP) << 4
	case *Disconnect:
		first = byte(DISCONNECT) << 4
		err = propsErr(v, &p.Props)
		if v == V5 {
			dst = appendReasonProps(dst, p.ReasonCode, &p.Props)
		}
	case *Auth:
		if v != V5 {
			return dst[:start], nil, fmt.Errorf("packet: AUTH at protocol level %d: %w", v, ProtocolError)
		}
		first = byte(AUTH) << 4
		err = propsErr(v, &p.Props)
		dst = appendReasonProps(dst, p.ReasonCode, &p.Props)
	default:
		return dst[:start], nil, fmt.Errorf("packet: cannot encode %T", p)
	}
	if err != nil {
		return dst[:start], nil, err
	}
	remaining := len(dst) - start - 5 + len(payload)
	if remaining > MaxRemainingLength {
		return dst[:start], nil, fmt.Errorf("packet: %s remaining length %d: %w", p.Type(), remaining, PacketTooLarge)
	}
	hl := 1 + varintSize(remaining)
	gap := 5 - hl
	dst[start+gap] = first
	appendVarint(dst[start+gap+1:start+gap+1], remaining)
	if gap > 0 {
		copy(dst[start:], dst[start+gap:])
		dst = dst[:len(dst)-gap]
	}
	return dst, payload, nil
}

func appendConnect(dst []byte, p *Connect) ([]byte, error) {
	v := p.Version
	if v != V31 && v != V311 && v != V5 {
		return dst, fmt.Errorf("packet: CONNECT protocol level %d: %w", v, UnsupportedProtocolVersion)
	}
	name := p.ProtocolName
	if name == "" {
		name = v.ProtocolName()
	}
	dst = appendString(dst, name)
	dst = append(dst, byte(v))
	var flags byte
	if p.CleanStart {
		flags |= 0x02
	}
	if w := p.Will; w != nil {
		if !w.QoS.Valid() {
			return dst, fmt.Errorf("packet: CONNECT will QoS %d: %w", w.QoS, MalformedPacket)
		}
		flags |= 0x04 | byte(w.QoS)<<3
		if w.Retain {
			flags |= 0x20
		}
	}
	if p.PasswordFlag || len(p.Password) > 0 {
		flags |= 0x40
	}
	if p.UsernameFlag || p.Username != "" {
		flags |= 0x80
	}
	err := firstErr(lenErr("CONNECT protocol name", len(name)), lenErr("CONNECT client identifier", len(p.ClientID)),
		lenErr("CONNECT user name", len(p.Username)), lenErr("CONNECT password", len(p.Password)), propsErr(v, &p.Props))
	if w := p.Will; w != nil {
		err = firstErr(err, lenErr("CONNECT will topic", len(w.Topic)), lenErr("CONNECT will payload", len(w.Payload)),
			propsErr(v, &w.Props))
	}
	if err != nil {
		return dst, err
	}
	dst = append(dst, flags)
	dst = appendUint16(dst, p.KeepAlive)
	if v == V5 {
		dst = appendProps(dst, &p.Props)
	}
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		if v == V5 {
			dst = appendProps(dst, &w.Props)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBytes(dst, w.Payload)
	}
	if flags&0x80 != 0 {
		dst = appendString(dst, p.Username)
	}
	if flags&0x40 != 0 {
		dst = appendBytes(dst, p.Password)
	}
	return dst, nil
}

func appendConnack(dst []byte, p *Connack, v Version) []byte {
	var flags byte
	if p.SessionPresent && v != V31 {
		flags = 1
	}
	dst = append(dst, flags)
	if v != V5 {
		return append(dst, p.ReasonCode.ConnackV3())
	}
	dst = append(dst, byte(p.ReasonCode))
	return appendProps(dst, &p.Props)
}

// appendAck writes the short form when it can [MQTT-3.4.2-1]: the reason
// code is left out when it is Success and there are no properties.
func appendAck(dst []byte, v Version, id uint16, rc ReasonCode, props *Properties) []byte {
	dst = appendUint16(dst, id)
	if v != V5 {
		return dst
	}
	return appendReasonProps(dst, rc, props)
}

func appendReasonProps(dst []byte, rc ReasonCode, props *Properties) []byte {
	if props.Empty() {
		if rc == Success {
			return dst
		}
		return append(dst, byte(rc))
	}
	dst = append(dst, byte(rc))
	return appendProps(dst, props)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// lenErr reports a string or binary field too long for its two-byte length
// prefix [MQTT-1.5.4], which would otherwise be written truncated.
func lenErr(field string, n int) error {
	if n > 0xFFFF {
		return fmt.Errorf("packet: %s of %d bytes is longer than 65535: %w", field, n, MalformedPacket)
	}
	return nil
}

// propsErr reports properties that cannot be encoded at level v.
func propsErr(v Version, p *Properties) error {
	if v != V5 || p.Empty() {
		return nil
	}
	return p.encodable()
}
