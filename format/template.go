package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// maxField caps a -F field width or precision so a template such as
// %999999999p cannot make every message allocate a gigabyte.
const maxField = 1 << 16

// hexSeparators are the characters that may stand between the precision and
// the code of a -F field to group %x/%X output (mosquitto 2.1). A space is
// the default separator and is also accepted explicitly.
const hexSeparators = "!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~ "

// percentCodes are the -F field codes mosquitto_sub accepts.
const percentCodes = "%ACDEFIlmPpqRSrtjJUxXfd"

// TemplateError is a malformed -F template. Text holds mosquitto_sub's
// wording (for "Error: <Text>"), e.g. "Invalid format specifier 'Z'.".
type TemplateError struct {
	Text string
}

// Error returns the problem in mqtool's error style.
func (e *TemplateError) Error() string {
	return "format: " + strings.ToLower(e.Text[:1]) + strings.TrimSuffix(e.Text[1:], ".")
}

type segKind byte

const (
	segLiteral  segKind = iota // lit holds the bytes
	segField                   // a % code
	segTime                    // an @ strftime code
	segNanosecs                // @N
)

// field is one parsed %[-][0][width][.precision][sep]code.
type field struct {
	code  byte
	left  bool // '-': left-align
	pad   byte // ' ' or '0'
	width int
	prec  int // -1 when absent
	sep   byte
}

type segment struct {
	kind segKind
	lit  []byte
	f    field
}

// template is a parsed -F format.
type template struct {
	segs    []segment
	hasJSON bool
}

// parseTemplate checks s the way mosquitto_sub does before it connects and
// splits it into literal runs and codes.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			t.segs = append(t.segs, segment{kind: segLiteral, lit: lit})
			lit = nil
		}
	}
	incomplete := &TemplateError{Text: "Incomplete format specifier."}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			f := field{pad: ' ', prec: -1, sep: ' '}
			i++
			if i >= len(s) {
				return nil, incomplete
			}
			switch s[i] {
			case '-':
				f.left = true
				i++
				if i < len(s) && s[i] == '0' {
					f.pad = '0'
					i++
				}
			case '0':
				f.pad = '0'
				i++
			}
			i, f.width = digits(s, i)
			if i < len(s) && s[i] == '.' {
				i, f.prec = digits(s, i+1)
			}
			if i < len(s) && strings.IndexByte(hexSeparators, s[i]) >= 0 {
				f.sep = s[i]
				i++
			}
			if i >= len(s) {
				return nil, incomplete
			}
			f.code = s[i]
			if strings.IndexByte(percentCodes, f.code) < 0 {
				return nil, &TemplateError{Text: fmt.Sprintf("Invalid format specifier '%c'.", f.code)}
			}
			if f.code == '%' {
				lit = append(lit, '%')
				continue
			}
			if f.code == 'j' || f.code == 'J' {
				t.hasJSON = true
			}
			flush()
			t.segs = append(t.segs, segment{kind: segField, f: f})
		case '@':
			i++
			if i >= len(s) {
				return nil, incomplete
			}
			switch s[i] {
			case '@':
				lit = append(lit, '@')
			case 'N':
				flush()
				t.segs = append(t.segs, segment{kind: segNanosecs})
			default:
				flush()
				t.segs = append(t.segs, segment{kind: segTime, f: field{code: s[i]}})
			}
		case '\\':
			i++
			if i >= len(s) {
				return nil, &TemplateError{Text: "Incomplete escape specifier."}
			}
			e, ok := escapes[s[i]]
			if !ok {
				return nil, &TemplateError{Text: fmt.Sprintf("Invalid escape specifier '%c'.", s[i])}
			}
			lit = append(lit, e)
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return t, nil
}

var escapes = map[byte]byte{'\\': '\\', '0': 0, 'a': '\a', 'e': 0x1b, 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}

// digits reads a decimal number at s[i:], capped at maxField.
func digits(s string, i int) (int, int) {
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = min(n*10+int(s[i]-'0'), maxField)
	}
	return i, n
}

// render appends m formatted by t at time now to b. The error is an
// *InvalidJSONError or *NumberError; rendering goes on after it, as
// mosquitto_sub does.
func (t *template) render(b []byte, m *packet.Publish, now time.Time, pretty bool) ([]byte, error) {
	var firstErr error
	for i := range t.segs {
		sg := &t.segs[i]
		switch sg.kind {
		case segLiteral:
			b = append(b, sg.lit...)
		case segTime:
			b = appendStrftime(b, sg.f.code, now)
		case segNanosecs:
			b = fmt.Appendf(b, "%09d", now.Nanosecond())
		case segField:
			var err error
			b, err = renderField(b, &sg.f, m, now, pretty)
			if err == nil {
				break
			}
			if firstErr == nil {
				firstErr = err
			}
			if je, ok := firstErr.(*InvalidJSONError); ok && err != firstErr {
				if _, again := err.(*InvalidJSONError); again {
					je.n = max(je.n, 1) + 1
				}
			}
		}
	}
	return b, firstErr
}

func renderField(b []byte, f *field, m *packet.Publish, now time.Time, pretty bool) ([]byte, error) {
	p := &m.Props
	switch f.code {
	case 'A':
		if p.Has(packet.PropTopicAlias) {
			return appendInt(b, f, int64(p.TopicAlias)), nil
		}
		return appendBlank(b, f.pad, f.width), nil
	case 'C':
		if p.Has(packet.PropContentType) {
			return appendStr(b, f, p.ContentType), nil
		}
		// mosquitto 2.0 pads an absent content type with spaces even for %0C.
		return appendBlank(b, ' ', f.width), nil
	case 'D':
		if p.Has(packet.PropCorrelationData) {
			return append(b, p.CorrelationData...), nil
		}
	case 'E':
		if p.Has(packet.PropMessageExpiry) {
			return appendInt(b, f, int64(int32(p.MessageExpiry))), nil
		}
		return appendBlank(b, f.pad, f.width), nil
	case 'F':
		if p.Has(packet.PropPayloadFormat) {
			return appendInt(b, f, int64(p.PayloadFormat)), nil
		}
		return appendBlank(b, f.pad, f.width), nil
	case 'I':
		return appendStr(b, f, string(strftime(nil, "%FT%T%z", now))), nil
	case 'j':
		return appendMosquittoJSON(b, m, now, true, pretty)
	case 'J':
		return appendMosquittoJSON(b, m, now, false, pretty)
	case 'l':
		return appendInt(b, f, int64(len(m.Payload))), nil
	case 'm':
		return appendInt(b, f, int64(m.PacketID)), nil
	case 'P':
		for i, u := range p.User {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(append(append(b, u.Key...), ':'), u.Value...)
		}
	case 'p':
		return appendPayload(b, f, m.Payload, 0), nil
	case 'q':
		return append(b, '0'+byte(m.QoS)), nil
	case 'R':
		if p.Has(packet.PropResponseTopic) {
			return appendStr(b, f, p.ResponseTopic), nil
		}
	case 'r':
		if m.Retain {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case 'S':
		if len(p.SubscriptionIDs) > 0 {
			return appendInt(b, f, int64(int32(p.SubscriptionIDs[0]))), nil
		}
		return appendBlank(b, f.pad, f.width), nil
	case 't':
		return appendStr(b, f, m.Topic), nil
	case 'U':
		return fmt.Appendf(b, "%d.%09d", now.Unix(), now.Nanosecond()), nil
	case 'x':
		return appendPayload(b, f, m.Payload, 'x'), nil
	case 'X':
		return appendPayload(b, f, m.Payload, 'X'), nil
	case 'f', 'd':
		return appendFloat(b, f, m)
	}
	return b, nil
}

func appendBlank(b []byte, pad byte, n int) []byte {
	for range n {
		b = append(b, pad)
	}
	return b
}

// appendInt is C's %d, %-Nd, %0Nd or %Nd.
func appendInt(b []byte, f *field, v int64) []byte {
	switch {
	case f.width == 0:
		return strconv.AppendInt(b, v, 10)
	case f.left:
		return fmt.Appendf(b, "%-*d", f.width, v)
	case f.pad == '0':
		return fmt.Appendf(b, "%0*d", f.width, v)
	}
	return fmt.Appendf(b, "%*d", f.width, v)
}

// appendStr is C's %*.*s: precision cuts bytes, width pads with spaces.
func appendStr(b []byte, f *field, s string) []byte {
	if f.prec >= 0 && len(s) > f.prec {
		s = s[:f.prec]
	}
	pad := f.width - len(s)
	if !f.left {
		b = appendBlank(b, ' ', pad)
	}
	b = append(b, s...)
	if f.left {
		b = appendBlank(b, ' ', pad)
	}
	return b
}

// appendPayload writes the payload raw (hex 0) or in hex ('x', 'X'). As in
// mosquitto_sub 2.0 a width also truncates: to width bytes raw, and to
// width/2 bytes in hex. A precision groups hex digits (mosquitto 2.1).
func appendPayload(b []byte, f *field, payload []byte, hex byte) []byte {
	n, padlen := len(payload), 0
	if f.width > 0 {
		n = min(n, f.width)
		if hex != 0 {
			n /= 2
			padlen = f.width - 2*n
		} else {
			padlen = f.width - n
		}
	}
	group := 0
	if hex != 0 && f.prec > 0 {
		group = f.prec
	}
	xpos := 0
	sep := func() {
		if group > 0 && xpos%group == group-1 {
			b = append(b, f.sep)
		}
	}
	if !f.left {
		for range padlen {
			b = append(b, f.pad)
			if hex != 0 {
				sep()
			}
			xpos++
		}
	}
	switch hex {
	case 0:
		b = append(b, payload[:n]...)
	default:
		digits := "0123456789abcdef"
		if hex == 'X' {
			digits = "0123456789ABCDEF"
		}
		for i, c := range payload[:n] {
			b = append(b, digits[c>>4])
			sep()
			xpos++
			b = append(b, digits[c&0xf])
			if i < n-1 {
				sep()
				xpos++
			}
		}
	}
	if f.left {
		b = appendBlank(b, ' ', padlen)
	}
	return b
}

// NumberError is %f or %d on a payload that is not a 4-byte float or an
// 8-byte double (mosquitto 2.1). Nothing is printed for the field.
type NumberError struct {
	Code byte // 'f' or 'd'
	Len  int  // the payload length
}

// Error describes the mismatch.
func (e *NumberError) Error() string {
	want := 4
	if e.Code == 'd' {
		want = 8
	}
	return fmt.Sprintf("format: %%%c needs a %d-byte payload, got %d bytes", e.Code, want, e.Len)
}

// Notice returns the line mosquitto_sub 2.1 writes to stderr for the error
// (mosquitto itself omits the newline).
func (e *NumberError) Notice() string {
	if e.Code == 'd' {
		return "requested double printing, but non-double data received\n"
	}
	return "requested float printing, but non-float data received\n"
}

func (e *NumberError) Unwrap() error { return ErrPayload }

// appendFloat is %f/%d: the payload as a little-endian IEEE-754 float or
// double, printed with C's %.*f (default precision 6).
func appendFloat(b []byte, f *field, m *packet.Publish) ([]byte, error) {
	var v float64
	switch {
	case f.code == 'f' && len(m.Payload) == 4:
		v = float64(math.Float32frombits(le32(m.Payload)))
	case f.code == 'd' && len(m.Payload) == 8:
		v = math.Float64frombits(uint64(le32(m.Payload)) | uint64(le32(m.Payload[4:]))<<32)
	default:
		return b, &NumberError{Code: f.code, Len: len(m.Payload)}
	}
	prec := f.prec
	if prec < 0 {
		prec = 6
	}
	var s string
	pad := f.pad
	switch {
	case math.IsNaN(v):
		s, pad = "nan", ' '
		if math.Signbit(v) {
			s = "-nan"
		}
	case math.IsInf(v, 1):
		s, pad = "inf", ' '
	case math.IsInf(v, -1):
		s, pad = "-inf", ' '
	default:
		s = strconv.FormatFloat(v, 'f', prec, 64)
	}
	n := f.width - len(s)
	switch {
	case n <= 0:
		return append(b, s...), nil
	case f.left:
		return appendBlank(append(b, s...), ' ', n), nil
	case pad == '0':
		if s[0] == '-' {
			return append(appendBlank(append(b, '-'), '0', n), s[1:]...), nil
		}
		return append(appendBlank(b, '0', n), s...), nil
	}
	return append(appendBlank(b, ' ', n), s...), nil
}

func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

var (
	weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	months   = []string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
)

// strftime appends t formatted by the C-locale glibc strftime conversions in
// layout to b.
func strftime(b []byte, layout string, t time.Time) []byte {
	for i := 0; i < len(layout); i++ {
		if layout[i] != '%' || i == len(layout)-1 {
			b = append(b, layout[i])
			continue
		}
		i++
		b = appendStrftime(b, layout[i], t)
	}
	return b
}

// appendStrftime appends glibc's strftime("%c") for t in the C locale; an
// unknown conversion is copied, as glibc does.
func appendStrftime(b []byte, c byte, t time.Time) []byte {
	d2 := func(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }
	s2 := func(b []byte, v int) []byte {
		if v < 10 {
			return append(b, ' ', byte('0'+v))
		}
		return d2(b, v)
	}
	hour12 := func() int {
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		return h
	}
	switch c {
	case 'a':
		return append(b, weekdays[t.Weekday()][:3]...)
	case 'A':
		return append(b, weekdays[t.Weekday()]...)
	case 'b', 'h':
		return append(b, months[t.Month()-1][:3]...)
	case 'B':
		return append(b, months[t.Month()-1]...)
	case 'c':
		return strftime(b, "%a %b %e %H:%M:%S %Y", t)
	case 'C':
		return d2(b, t.Year()/100)
	case 'd':
		return d2(b, t.Day())
	case 'D':
		return strftime(b, "%m/%d/%y", t)
	case 'e':
		return s2(b, t.Day())
	case 'F':
		return strftime(b, "%Y-%m-%d", t)
	case 'g':
		y, _ := t.ISOWeek()
		return d2(b, y%100)
	case 'G':
		y, _ := t.ISOWeek()
		return strconv.AppendInt(b, int64(y), 10)
	case 'H':
		return d2(b, t.Hour())
	case 'I':
		return d2(b, hour12())
	case 'j':
		return fmt.Appendf(b, "%03d", t.YearDay())
	case 'k':
		return s2(b, t.Hour())
	case 'l':
		return s2(b, hour12())
	case 'm':
		return d2(b, int(t.Month()))
	case 'M':
		return d2(b, t.Minute())
	case 'n':
		return append(b, '\n')
	case 'p':
		if t.Hour() < 12 {
			return append(b, "AM"...)
		}
		return append(b, "PM"...)
	case 'P':
		if t.Hour() < 12 {
			return append(b, "am"...)
		}
		return append(b, "pm"...)
	case 'r':
		return strftime(b, "%I:%M:%S %p", t)
	case 'R':
		return strftime(b, "%H:%M", t)
	case 's':
		return strconv.AppendInt(b, t.Unix(), 10)
	case 'S':
		return d2(b, t.Second())
	case 't':
		return append(b, '\t')
	case 'T', 'X':
		return strftime(b, "%H:%M:%S", t)
	case 'u':
		return append(b, byte('0'+(int(t.Weekday())+6)%7+1))
	case 'U':
		return d2(b, (t.YearDay()+6-int(t.Weekday()))/7)
	case 'V':
		_, w := t.ISOWeek()
		return d2(b, w)
	case 'w':
		return append(b, byte('0'+t.Weekday()))
	case 'W':
		return d2(b, (t.YearDay()+6-(int(t.Weekday())+6)%7)/7)
	case 'x':
		return strftime(b, "%m/%d/%y", t)
	case 'y':
		return d2(b, t.Year()%100)
	case 'Y':
		return strconv.AppendInt(b, int64(t.Year()), 10)
	case 'z':
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		return d2(d2(append(b, sign), off/3600), off/60%60)
	case 'Z':
		name, _ := t.Zone()
		return append(b, name...)
	case '%':
		return append(b, '%')
	}
	return append(b, '%', c)
}
