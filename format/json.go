package format

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqtool/mqtool/packet"
)

// ErrPayload is wrapped by the per-message errors of Print (InvalidJSONError,
// NumberError): the message was printed as far as possible and the
// subscriber goes on.
var ErrPayload = errors.New("format: payload does not suit the output format")

// InvalidJSONError is %J on a payload that is not valid JSON. The rest of
// the template is still printed, with nothing for %J.
type InvalidJSONError struct {
	Topic string
	n     int // %J fields that failed in the message, when more than one
}

// Error names the topic.
func (e *InvalidJSONError) Error() string {
	return "format: message payload is not valid JSON on topic " + e.Topic
}

// Notice returns what mosquitto_sub writes to stderr for the error: one
// line for each %J in the template.
func (e *InvalidJSONError) Notice() string {
	return strings.Repeat("Error: Message payload is not valid JSON on topic "+e.Topic+".\n", max(e.n, 1))
}

func (e *InvalidJSONError) Unwrap() error { return ErrPayload }

// jkind is the type of a cJSON value.
type jkind byte

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jArray
	jObject
)

// jvalue is one JSON value as cJSON 1.7.15 holds it: numbers as doubles,
// strings as bytes, object members in order with duplicates kept.
type jvalue struct {
	kind jkind
	num  float64
	str  []byte
	keys [][]byte // object member names
	kids []*jvalue
}

func jstr(s string) *jvalue  { return &jvalue{kind: jString, str: []byte(s)} }
func jnum(v float64) *jvalue { return &jvalue{kind: jNumber, num: v} }
func (v *jvalue) add(k string, c *jvalue) {
	v.keys = append(v.keys, []byte(k))
	v.kids = append(v.kids, c)
}

// cstr is the bytes a C string made from b holds: up to the first NUL.
func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// appendMosquittoJSON is %j (escaped true) and %J: the message as
// mosquitto_sub 2.0 prints it with cJSON.
func appendMosquittoJSON(b []byte, m *packet.Publish, now time.Time, escaped, pretty bool) ([]byte, error) {
	root := &jvalue{kind: jObject}
	tst := strftime(nil, "%Y-%m-%dT%H:%M:%S.", now)
	tst = fmt.Appendf(tst, "%06dZ", now.Nanosecond()/1000)
	tst = strftime(tst, "%z", now)
	root.add("tst", &jvalue{kind: jString, str: tst})
	root.add("topic", jstr(m.Topic))
	root.add("qos", jnum(float64(m.QoS)))
	retain := 0.0
	if m.Retain {
		retain = 1
	}
	root.add("retain", jnum(retain))
	root.add("payloadlen", jnum(float64(len(m.Payload))))
	if m.QoS > 0 {
		root.add("mid", jnum(float64(m.PacketID)))
	}
	if props := mosquittoProps(&m.Props); props != nil {
		root.add("properties", props)
	}
	switch {
	case len(m.Payload) == 0:
		root.add("payload", &jvalue{kind: jNull})
	case escaped:
		root.add("payload", &jvalue{kind: jString, str: cstr(m.Payload)})
	default:
		v, ok := parseCJSON(m.Payload)
		if !ok {
			return b, &InvalidJSONError{Topic: m.Topic}
		}
		root.add("payload", v)
	}
	return appendCJSON(b, root, pretty, 1), nil
}

// mosquittoProps returns the "properties" object of mosquitto's JSON, or nil
// when the message has none. Properties are not kept in wire order, so they
// come in the order a mosquitto broker forwards them when they were
// published in identifier order: subscription identifiers first, message
// expiry last.
func mosquittoProps(p *packet.Properties) *jvalue {
	o := &jvalue{kind: jObject}
	for _, id := range p.SubscriptionIDs {
		o.add("subscription-identifier", jnum(float64(id)))
	}
	if p.Has(packet.PropTopicAlias) {
		o.add("topic-alias", jnum(float64(p.TopicAlias)))
	}
	if p.Has(packet.PropPayloadFormat) {
		o.add("payload-format-indicator", jnum(float64(p.PayloadFormat)))
	}
	if p.Has(packet.PropContentType) {
		o.add("content-type", jstr(p.ContentType))
	}
	if p.Has(packet.PropResponseTopic) {
		o.add("response-topic", jstr(p.ResponseTopic))
	}
	if p.Has(packet.PropCorrelationData) {
		o.add("correlation-data", &jvalue{kind: jString, str: cstr(p.CorrelationData)})
	}
	if len(p.User) > 0 {
		u := &jvalue{kind: jObject}
		for _, kv := range p.User {
			u.add(kv.Key, jstr(kv.Value))
		}
		o.add("user-properties", u)
	}
	if p.Has(packet.PropMessageExpiry) {
		o.add("message-expiry-interval", jnum(float64(p.MessageExpiry)))
	}
	if len(o.kids) == 0 {
		return nil
	}
	return o
}

// appendCJSON prints v as cJSON_PrintUnformatted, or cJSON_Print when
// pretty; depth is the nesting level of v's members.
func appendCJSON(b []byte, v *jvalue, pretty bool, depth int) []byte {
	switch v.kind {
	case jNull:
		return append(b, "null"...)
	case jFalse:
		return append(b, "false"...)
	case jTrue:
		return append(b, "true"...)
	case jNumber:
		return appendCNumber(b, v.num)
	case jString:
		return appendCString(b, v.str)
	case jArray:
		b = append(b, '[')
		for i, k := range v.kids {
			if i > 0 {
				b = append(b, ',')
				if pretty {
					b = append(b, ' ')
				}
			}
			b = appendCJSON(b, k, pretty, depth+1)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	if pretty {
		b = append(b, '\n')
	}
	for i, k := range v.kids {
		if pretty {
			b = appendBlank(b, '\t', depth)
		}
		b = appendCString(b, v.keys[i])
		b = append(b, ':')
		if pretty {
			b = append(b, '\t')
		}
		b = appendCJSON(b, k, pretty, depth+1)
		if i < len(v.kids)-1 {
			b = append(b, ',')
		}
		if pretty {
			b = append(b, '\n')
		}
	}
	if pretty {
		b = appendBlank(b, '\t', depth-1)
	}
	return append(b, '}')
}

// appendCString is cJSON's print_string_ptr on a C string: the bytes up to
// the first NUL, with ", \ and control characters escaped and everything
// else (including invalid UTF-8) copied.
func appendCString(b []byte, s []byte) []byte {
	b = append(b, '"')
	for _, c := range cstr(s) {
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 32 {
				b = fmt.Appendf(b, "\\u%04x", c)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// appendCNumber is cJSON 1.7.15's print_number: %1.15g, or %1.17g when that
// does not read back within DBL_EPSILON; NaN and infinities print null.
func appendCNumber(b []byte, d float64) []byte {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return append(b, "null"...)
	}
	s := cFormatG(d, 15)
	t, err := strconv.ParseFloat(s, 64)
	if err != nil || math.Abs(t-d) > math.Max(math.Abs(t), math.Abs(d))*dblEpsilon {
		s = cFormatG(d, 17)
	}
	return append(b, s...)
}

// dblEpsilon is C's DBL_EPSILON.
const dblEpsilon = 0x1p-52

// cFormatG is C's printf("%1.<prec>g", d) for a finite d.
func cFormatG(d float64, prec int) string {
	e := strconv.FormatFloat(d, 'e', prec-1, 64) // [-]d.ddde±XX
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= prec {
		sign := '+'
		if exp < 0 {
			sign, exp = '-', -exp
		}
		return fmt.Sprintf("%se%c%02d", trimZeros(e[:i]), sign, exp)
	}
	return trimZeros(strconv.FormatFloat(d, 'f', prec-1-exp, 64))
}

// trimZeros drops the trailing zeros of a fraction, and its point if
// nothing is left of it, as %g does.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// cjsonNestingLimit is cJSON's CJSON_NESTING_LIMIT.
const cjsonNestingLimit = 1000

// cjsonParser parses like cJSON_ParseWithOpts(payload, &end, true) followed
// by mosquitto's check that end is the end of the payload.
type cjsonParser struct {
	s     []byte
	i     int
	depth int
}

// parseCJSON reports whether cJSON 1.7.15 accepts payload as the whole of one
// JSON value, and returns the value.
func parseCJSON(payload []byte) (*jvalue, bool) {
	if bytes.IndexByte(payload, 0) >= 0 {
		return nil, false // cJSON stops at the NUL, short of the payload's end
	}
	p := &cjsonParser{s: payload}
	if bytes.HasPrefix(payload, []byte("\xEF\xBB\xBF")) {
		p.i = 3
	}
	p.skip()
	v, ok := p.value()
	if !ok {
		return nil, false
	}
	p.skip()
	return v, p.i == len(p.s)
}

// skip passes cJSON's whitespace: every byte up to 32.
func (p *cjsonParser) skip() {
	for p.i < len(p.s) && p.s[p.i] <= 32 {
		p.i++
	}
}

func (p *cjsonParser) value() (*jvalue, bool) {
	rest := p.s[p.i:]
	for _, lit := range []struct {
		word string
		kind jkind
	}{{"null", jNull}, {"false", jFalse}, {"true", jTrue}} {
		if bytes.HasPrefix(rest, []byte(lit.word)) {
			p.i += len(lit.word)
			return &jvalue{kind: lit.kind}, true
		}
	}
	if len(rest) == 0 {
		return nil, false
	}
	switch c := rest[0]; {
	case c == '"':
		s, ok := p.string()
		return &jvalue{kind: jString, str: s}, ok
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '[':
		return p.array()
	case c == '{':
		return p.object()
	}
	return nil, false
}

// number copies the run of number characters (at most 63, as cJSON does)
// and takes the longest prefix strtod would read.
func (p *cjsonParser) number() (*jvalue, bool) {
	j := p.i
	for j < len(p.s) && j-p.i < 63 && bytes.IndexByte([]byte("0123456789+-eE."), p.s[j]) >= 0 {
		j++
	}
	run := p.s[p.i:j]
	n := strtodPrefix(run)
	if n == 0 {
		return nil, false
	}
	v, err := strconv.ParseFloat(string(run[:n]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, false
	}
	p.i += n
	return jnum(v), true
}

// strtodPrefix returns the length of the decimal number strtod reads at the
// start of s (made only of digits, signs, e/E and '.'), 0 for none.
func strtodPrefix(s []byte) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	mant := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		mant++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			mant++
		}
	}
	if mant == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for ; k < len(s) && s[k] >= '0' && s[k] <= '9'; k++ {
		}
		if k > j {
			i = k
		}
	}
	return i
}

func (p *cjsonParser) string() ([]byte, bool) {
	p.i++ // opening quote
	var out []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return out, true
		case '\\':
			if p.i+1 >= len(p.s) {
				return nil, false
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case '"', '\\', '/':
				out = append(out, e)
			case 'u':
				r, ok := p.utf16()
				if !ok {
					return nil, false
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, false
			}
		default:
			out = append(out, c)
			p.i++
		}
	}
	return nil, false
}

// utf16 reads the four hex digits after \u (p.i is at the first) and a low
// surrogate's \uXXXX after a high one.
func (p *cjsonParser) utf16() (rune, bool) {
	hex4 := func() (rune, bool) {
		if p.i+4 > len(p.s) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 16)
		if err != nil {
			return 0, false
		}
		p.i += 4
		return rune(v), true
	}
	r, ok := hex4()
	switch {
	case !ok || r >= 0xDC00 && r <= 0xDFFF:
		return 0, false
	case r >= 0xD800 && r <= 0xDBFF:
		if p.i+2 > len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
			return 0, false
		}
		p.i += 2
		lo, ok := hex4()
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, false
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), true
	}
	return r, true
}

func (p *cjsonParser) array() (*jvalue, bool) {
	if p.depth >= cjsonNestingLimit {
		return nil, false
	}
	p.depth++
	defer func() { p.depth-- }()
	p.i++
	v := &jvalue{kind: jArray}
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, true
	}
	for {
		p.skip()
		k, ok := p.value()
		if !ok {
			return nil, false
		}
		v.kids = append(v.kids, k)
		p.skip()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, true
		default:
			return nil, false
		}
	}
}

func (p *cjsonParser) object() (*jvalue, bool) {
	if p.depth >= cjsonNestingLimit {
		return nil, false
	}
	p.depth++
	defer func() { p.depth-- }()
	p.i++
	v := &jvalue{kind: jObject}
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, true
	}
	for {
		p.skip()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		key, ok := p.string()
		if !ok {
			return nil, false
		}
		p.skip()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.skip()
		k, ok := p.value()
		if !ok {
			return nil, false
		}
		v.keys = append(v.keys, key)
		v.kids = append(v.kids, k)
		p.skip()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, true
		default:
			return nil, false
		}
	}
}
