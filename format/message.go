package format

import (
	"encoding/base64"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/mqtool/mqtool/packet"
)

// Output is how received messages are printed (flags of sub and rr).
type Output struct {
	Verbose bool   // -v: "topic payload"
	Format  string // -F template; overrides Verbose
	NoEOL   bool   // -N: no newline after each message
	Pretty  bool   // --pretty: indented JSON for %j/%J and --json
	JSON    bool   // --json (mqtool extension): NDJSON one object per message; overrides Format and Verbose
	Color   bool   // colour on (the caller decided from --color/TTY/NO_COLOR)
}

// Printer writes received messages the way mosquitto_sub 2.0 does for the
// same flags, or as mqtool's JSON. It reuses one buffer, so a Printer is not
// safe for concurrent use.
type Printer struct {
	o    Output
	tmpl *template
	buf  []byte
	pal  palette
}

// NewPrinter checks o and returns a Printer for it. A malformed -F template
// is a *TemplateError carrying mosquitto_sub's wording.
func NewPrinter(o Output) (*Printer, error) {
	p := &Printer{o: o}
	if o.Format != "" && !o.JSON {
		t, err := parseTemplate(o.Format)
		if err != nil {
			return nil, err
		}
		p.tmpl = t
	}
	if o.Color {
		p.pal = newPalette()
	}
	return p, nil
}

// Print writes one message received at t to w in a single Write. It returns
// the write error, or a per-message error wrapping ErrPayload
// (*InvalidJSONError for %J on a payload that is not JSON, *NumberError for
// %f/%d on a payload of the wrong size) after printing the rest of the
// message, as mosquitto_sub does.
func (p *Printer) Print(w io.Writer, m *packet.Publish, t time.Time) error {
	b := p.buf[:0]
	var msgErr error
	eol := !p.o.NoEOL
	switch {
	case p.o.JSON:
		b = p.appendJSON(b, m, t)
		eol = true
	case p.tmpl != nil:
		b, msgErr = p.tmpl.render(b, m, t, p.o.Pretty)
	case p.o.Verbose:
		if len(m.Payload) == 0 {
			if p.o.NoEOL {
				return nil
			}
			b = p.pal.topic.wrap(b, m.Topic)
			b = append(b, ' ')
			b = p.pal.null.wrap(b, "(null)")
			break
		}
		b = p.pal.topic.wrap(b, m.Topic)
		b = append(b, ' ')
		b = append(b, m.Payload...)
	default:
		if len(m.Payload) == 0 {
			return nil
		}
		b = append(b, m.Payload...)
	}
	if eol {
		b = append(b, '\n')
	}
	p.buf = b
	if _, err := w.Write(b); err != nil {
		return err
	}
	return msgErr
}

// ink is one colour as the escape sequences around a text; the zero ink
// adds nothing.
type ink struct {
	on, off string
}

func newInk(attrs ...color.Attribute) ink {
	c := color.New(attrs...)
	c.EnableColor()
	on, off, _ := strings.Cut(c.Sprint("\x00"), "\x00")
	return ink{on: on, off: off}
}

func (k ink) wrap(b []byte, s string) []byte {
	return append(append(append(b, k.on...), s...), k.off...)
}

type palette struct {
	topic, null            ink
	key, str, num, literal ink
}

func newPalette() palette {
	return palette{
		topic:   newInk(color.FgCyan, color.Bold),
		null:    newInk(color.Faint),
		key:     newInk(color.FgBlue, color.Bold),
		str:     newInk(color.FgGreen),
		num:     newInk(color.FgCyan),
		literal: newInk(color.FgYellow),
	}
}

// appendJSON is --json: one object with the receive time (RFC 3339,
// microseconds), topic, qos, retain, payloadlen, mid (QoS > 0), v5
// properties under mosquitto's names, and the payload as a string when it
// is valid UTF-8, else base64 with "encoding":"base64".
func (p *Printer) appendJSON(b []byte, m *packet.Publish, t time.Time) []byte {
	j := jsonWriter{b: b, pal: &p.pal, pretty: p.o.Pretty}
	j.open('{')
	j.key("tst")
	j.str(t.Format("2006-01-02T15:04:05.000000Z07:00"))
	j.key("topic")
	j.str(m.Topic)
	j.key("qos")
	j.num(int64(m.QoS))
	j.key("retain")
	if m.Retain {
		j.literal("true")
	} else {
		j.literal("false")
	}
	j.key("payloadlen")
	j.num(int64(len(m.Payload)))
	if m.QoS > 0 {
		j.key("mid")
		j.num(int64(m.PacketID))
	}
	if pr := &m.Props; mosquittoProps(pr) != nil {
		j.key("properties")
		j.open('{')
		switch len(pr.SubscriptionIDs) {
		case 0:
		case 1:
			j.key("subscription-identifier")
			j.num(int64(pr.SubscriptionIDs[0]))
		default:
			j.key("subscription-identifier")
			j.open('[')
			for _, id := range pr.SubscriptionIDs {
				j.elem()
				j.num(int64(id))
			}
			j.close(']')
		}
		if pr.Has(packet.PropTopicAlias) {
			j.key("topic-alias")
			j.num(int64(pr.TopicAlias))
		}
		if pr.Has(packet.PropPayloadFormat) {
			j.key("payload-format-indicator")
			j.num(int64(pr.PayloadFormat))
		}
		if pr.Has(packet.PropContentType) {
			j.key("content-type")
			j.str(pr.ContentType)
		}
		if pr.Has(packet.PropResponseTopic) {
			j.key("response-topic")
			j.str(pr.ResponseTopic)
		}
		if pr.Has(packet.PropCorrelationData) {
			j.bytes("correlation-data", pr.CorrelationData)
		}
		if len(pr.User) > 0 {
			j.key("user-properties")
			j.open('[')
			for _, u := range pr.User {
				j.elem()
				j.open('{')
				j.key(u.Key)
				j.str(u.Value)
				j.close('}')
			}
			j.close(']')
		}
		if pr.Has(packet.PropMessageExpiry) {
			j.key("message-expiry-interval")
			j.num(int64(pr.MessageExpiry))
		}
		j.close('}')
	}
	j.bytes("payload", m.Payload)
	j.close('}')
	return j.b
}

// jsonWriter writes mqtool's JSON: compact, or indented by two spaces, with
// optional colour.
type jsonWriter struct {
	b      []byte
	pal    *palette
	pretty bool
	depth  int
	first  bool // no member written yet at this level
}

func (j *jsonWriter) newline() {
	if j.pretty {
		j.b = append(j.b, '\n')
		j.b = appendBlank(j.b, ' ', 2*j.depth)
	}
}

func (j *jsonWriter) open(c byte) {
	j.b = append(j.b, c)
	j.depth++
	j.first = true
}

func (j *jsonWriter) close(c byte) {
	j.depth--
	if !j.first {
		j.newline()
	}
	j.b = append(j.b, c)
	j.first = false
}

// elem starts an array element.
func (j *jsonWriter) elem() {
	if !j.first {
		j.b = append(j.b, ',')
	}
	j.first = false
	j.newline()
}

func (j *jsonWriter) key(k string) {
	j.elem()
	j.b = append(j.b, j.pal.key.on...)
	j.b = appendJSONString(j.b, k)
	j.b = append(j.b, j.pal.key.off...)
	j.b = append(j.b, ':')
	if j.pretty {
		j.b = append(j.b, ' ')
	}
}

func (j *jsonWriter) str(s string) {
	j.b = append(j.b, j.pal.str.on...)
	j.b = appendJSONString(j.b, s)
	j.b = append(j.b, j.pal.str.off...)
}

func (j *jsonWriter) num(v int64) {
	j.b = append(j.b, j.pal.num.on...)
	j.b = appendInt(j.b, &field{}, v)
	j.b = append(j.b, j.pal.num.off...)
}

func (j *jsonWriter) literal(s string) {
	j.b = j.pal.literal.wrap(j.b, s)
}

// bytes writes name as a string when v is valid UTF-8, else as base64
// followed by name's "encoding" member ("encoding" for the payload,
// "<name>-encoding" otherwise) set to "base64".
func (j *jsonWriter) bytes(name string, v []byte) {
	j.key(name)
	if utf8.Valid(v) {
		j.str(string(v))
		return
	}
	j.str(base64.StdEncoding.EncodeToString(v))
	if name == "payload" {
		j.key("encoding")
	} else {
		j.key(name + "-encoding")
	}
	j.str("base64")
}

// appendJSONString quotes s as JSON; s is valid UTF-8 or has its invalid
// bytes replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
