package format

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// testTime is 2016-08-10 09:47:38.786368637 at +0530 (a Wednesday, day 223).
var testTime = time.Date(2016, 8, 10, 9, 47, 38, 786368637, time.FixedZone("IST", 5*3600+1800))

// fullMessage has a payload and every PUBLISH property.
func fullMessage() *packet.Publish {
	m := &packet.Publish{QoS: 1, Retain: true, Topic: "sensors/temp", PacketID: 42, Payload: []byte("hello")}
	p := &m.Props
	p.TopicAlias = 3
	p.Set(packet.PropTopicAlias)
	p.ContentType = "text/plain"
	p.Set(packet.PropContentType)
	p.CorrelationData = []byte("corr\x00id")
	p.Set(packet.PropCorrelationData)
	p.MessageExpiry = 3600
	p.Set(packet.PropMessageExpiry)
	p.PayloadFormat = 1
	p.Set(packet.PropPayloadFormat)
	p.ResponseTopic = "reply/here"
	p.Set(packet.PropResponseTopic)
	p.SubscriptionIDs = []uint32{9, 12}
	p.User = []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}
	return m
}

func bareMessage() *packet.Publish {
	return &packet.Publish{Topic: "a/b", Payload: []byte("hello")}
}

func render(t *testing.T, format string, m *packet.Publish) (string, error) {
	t.Helper()
	p, err := NewPrinter(Output{Format: format, NoEOL: true})
	if err != nil {
		t.Fatalf("NewPrinter(%q): %v", format, err)
	}
	var b bytes.Buffer
	err = p.Print(&b, m, testTime)
	return b.String(), err
}

func TestTemplateCodes(t *testing.T) {
	tests := []struct {
		name   string
		format string
		msg    *packet.Publish
		want   string
	}{
		{"percent", "%%", bareMessage(), "%"},
		{"percent ignores width", "%5%|%-%", bareMessage(), "%|%"},
		{"topic alias", "%A", fullMessage(), "3"},
		{"topic alias width", "[%5A|%-5A|%05A]", fullMessage(), "[    3|3    |00003]"},
		{"absent topic alias pads with pad", "[%5A|%05A|%-05A|%A]", bareMessage(), "[     |00000|00000|]"},
		{"content type", "%C", fullMessage(), "text/plain"},
		{"content type width precision", "[%12C|%-12C|%.4C|%6.2C]", fullMessage(), "[  text/plain|text/plain  |text|    te]"},
		{"absent content type pads spaces", "[%5C|%05C]", bareMessage(), "[     |     ]"},
		{"correlation data raw", "%D", fullMessage(), "corr\x00id"},
		{"correlation data ignores width", "%10D", fullMessage(), "corr\x00id"},
		{"absent correlation data", "[%D]", bareMessage(), "[]"},
		{"message expiry", "%E|%8E|%-8E|%08E", fullMessage(), "3600|    3600|3600    |00003600"},
		{"absent message expiry", "[%3E|%03E]", bareMessage(), "[   |000]"},
		{"payload format", "%F|%3F", fullMessage(), "1|  1"},
		{"absent payload format", "[%F|%2F]", bareMessage(), "[|  ]"},
		{"ISO time", "%I", bareMessage(), "2016-08-10T09:47:38+0530"},
		{"ISO time width precision", "[%26I|%-26I|%.10I]", bareMessage(), "[  2016-08-10T09:47:38+0530|2016-08-10T09:47:38+0530  |2016-08-10]"},
		{"length", "%l|%4l|%-4l|%04l", bareMessage(), "5|   5|5   |0005"},
		{"message id", "%m|%5m", fullMessage(), "42|   42"},
		{"message id at QoS 0", "%m", bareMessage(), "0"},
		{"user properties", "%P", fullMessage(), "k:v1 k:v2"},
		{"no user properties", "[%P]", bareMessage(), "[]"},
		{"payload", "%p", bareMessage(), "hello"},
		{"payload width pads", "[%8p|%-8p|%08p|%-08p]", bareMessage(), "[   hello|hello   |000hello|hello   ]"},
		{"payload width truncates", "[%3p]", bareMessage(), "[hel]"},
		{"payload precision ignored", "[%.2p]", bareMessage(), "[hello]"},
		{"qos", "%q", fullMessage(), "1"},
		{"qos ignores width", "%5q", fullMessage(), "1"},
		{"response topic", "%R|%12R|%.5R", fullMessage(), "reply/here|  reply/here|reply"},
		{"absent response topic prints nothing", "[%5R]", bareMessage(), "[]"},
		{"retain set", "%r", fullMessage(), "1"},
		{"retain clear", "%r", bareMessage(), "0"},
		{"subscription identifier is the first", "%S|%4S|%04S", fullMessage(), "9|   9|0009"},
		{"absent subscription identifier", "[%2S]", bareMessage(), "[  ]"},
		{"topic", "%t", fullMessage(), "sensors/temp"},
		{"topic width precision", "[%14t|%-14t|%.7t|%10.3t|%-10.3t|%.0t|%3.20t]", fullMessage(),
			"[  sensors/temp|sensors/temp  |sensors|       sen|sen       ||sensors/temp]"},
		{"unix time", "%U", bareMessage(), "1470802658.786368637"},
		{"hex", "%x|%X", &packet.Publish{Payload: []byte{0x18, 0x83, 0xab}}, "1883ab|1883AB"},
		{"hex width truncates to half", "[%4x|%3x|%-7X|%07x|%10x]", bareMessage(), "[6865| 68|6865   |0006865|      6865]"},
		{"hex groups of two", "%.2x", &packet.Publish{Payload: []byte{0x18, 0x83}}, "18 83"},
		{"hex groups with colon", "%.2:x", &packet.Publish{Payload: []byte{0x18, 0x83}}, "18:83"},
		{"hex groups of four upper", "%.4-X", &packet.Publish{Payload: []byte{0xde, 0xad, 0xbe, 0xef, 0x01}}, "DEAD-BEEF-01"},
		{"hex groups of three", "%.3x", &packet.Publish{Payload: []byte{0x01, 0x23, 0x45}}, "012 345"},
		{"hex group separator space explicit", "%.2 x", &packet.Publish{Payload: []byte{1, 2}}, "01 02"},
		{"hex precision zero no groups", "%.0x", &packet.Publish{Payload: []byte{1, 2}}, "0102"},
		{"hex groups count padding", "%08.2x", &packet.Publish{Payload: []byte{1, 2}}, "00 00 00 01"},
		{"separator on non-hex code is ignored", "%.2:t", bareMessage(), "a/"},
		{"empty payload hex", "[%x]", &packet.Publish{}, "[]"},
		{"escapes", `\\|\0|\a|\e|\n|\r|\t|\v`, bareMessage(), "\\|\x00|\a|\x1b|\n|\r|\t|\v"},
		{"at signs", "@@|@@@@", bareMessage(), "@|@@"},
		{"nanoseconds", "@N", bareMessage(), "786368637"},
		{"strftime date", "@Y-@m-@d @H:@M:@S", bareMessage(), "2016-08-10 09:47:38"},
		{"literal text", "abc def", bareMessage(), "abc def"},
		{"empty template segments", "%t%p", bareMessage(), "a/bhello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.format, tt.msg)
			if err != nil {
				t.Fatalf("Print(-F %q) error %v", tt.format, err)
			}
			if got != tt.want {
				t.Errorf("Print(-F %q) = %q, want %q", tt.format, got, tt.want)
			}
		})
	}
}

func TestTemplateFloat(t *testing.T) {
	f32 := func(v float32) *packet.Publish {
		b := math.Float32bits(v)
		return &packet.Publish{Topic: "f", Payload: []byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)}}
	}
	f64 := func(v float64) *packet.Publish {
		b := math.Float64bits(v)
		p := make([]byte, 8)
		for i := range p {
			p[i] = byte(b >> (8 * i))
		}
		return &packet.Publish{Topic: "d", Payload: p}
	}
	tests := []struct {
		name   string
		format string
		msg    *packet.Publish
		want   string
	}{
		{"float default precision", "%f", f32(1.5), "1.500000"},
		{"float precision", "%.2f", f32(-2.25), "-2.25"},
		{"float width", "[%10.3f]", f32(3.5), "[     3.500]"},
		{"float left", "[%-10.1f]", f32(3.5), "[3.5       ]"},
		{"float zero pad negative", "[%010.2f]", f32(-3.5), "[-000003.50]"},
		{"double", "%d", f64(math.Pi), "3.141593"},
		{"double precision zero rounds half even", "%.0d", f64(2.5), "2"},
		{"double large", "%.2d", f64(1e20), "100000000000000000000.00"},
		{"double negative zero", "%.1d", f64(math.Copysign(0, -1)), "-0.0"},
		{"double infinity", "[%05d]", f64(math.Inf(1)), "[  inf]"},
		{"double minus infinity", "%d", f64(math.Inf(-1)), "-inf"},
		{"double NaN", "%d", f64(math.NaN()), "nan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.format, tt.msg)
			if err != nil {
				t.Fatalf("Print(-F %q, % x) error %v", tt.format, tt.msg.Payload, err)
			}
			if got != tt.want {
				t.Errorf("Print(-F %q, % x) = %q, want %q", tt.format, tt.msg.Payload, got, tt.want)
			}
		})
	}
}

func TestTemplateFloatWrongSize(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		payload string
		notice  string
	}{
		{"float of 8 bytes", "[%f]", "12345678", "requested float printing, but non-float data received\n"},
		{"double of 4 bytes", "[%d]", "1234", "requested double printing, but non-double data received\n"},
		{"double of nothing", "[%d]", "", "requested double printing, but non-double data received\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.format, &packet.Publish{Topic: "x", Payload: []byte(tt.payload)})
			var ne *NumberError
			if !errors.As(err, &ne) || !errors.Is(err, ErrPayload) {
				t.Fatalf("Print(-F %q, %q) error = %v, want *NumberError wrapping ErrPayload", tt.format, tt.payload, err)
			}
			if got != "[]" {
				t.Errorf("Print(-F %q, %q) = %q, want %q", tt.format, tt.payload, got, "[]")
			}
			if ne.Notice() != tt.notice {
				t.Errorf("Notice() = %q, want %q", ne.Notice(), tt.notice)
			}
		})
	}
}

func TestStrftime(t *testing.T) {
	tests := []struct {
		code byte
		at   time.Time
		want string
	}{
		{'a', testTime, "Wed"}, {'A', testTime, "Wednesday"}, {'b', testTime, "Aug"}, {'h', testTime, "Aug"},
		{'B', testTime, "August"}, {'c', testTime, "Wed Aug 10 09:47:38 2016"}, {'C', testTime, "20"},
		{'d', testTime, "10"}, {'D', testTime, "08/10/16"}, {'e', testTime, "10"}, {'F', testTime, "2016-08-10"},
		{'g', testTime, "16"}, {'G', testTime, "2016"}, {'H', testTime, "09"}, {'I', testTime, "09"},
		{'j', testTime, "223"}, {'k', testTime, " 9"}, {'l', testTime, " 9"}, {'m', testTime, "08"},
		{'M', testTime, "47"}, {'n', testTime, "\n"}, {'p', testTime, "AM"}, {'P', testTime, "am"},
		{'r', testTime, "09:47:38 AM"}, {'R', testTime, "09:47"}, {'s', testTime, "1470802658"},
		{'S', testTime, "38"}, {'t', testTime, "\t"}, {'T', testTime, "09:47:38"}, {'u', testTime, "3"},
		{'U', testTime, "32"}, {'V', testTime, "32"}, {'w', testTime, "3"}, {'W', testTime, "32"},
		{'x', testTime, "08/10/16"}, {'X', testTime, "09:47:38"}, {'y', testTime, "16"}, {'Y', testTime, "2016"},
		{'z', testTime, "+0530"}, {'Z', testTime, "IST"}, {'%', testTime, "%"},
		{'Q', testTime, "%Q"}, {'E', testTime, "%E"}, {'+', testTime, "%+"},
		// Edges: midnight and noon in 12-hour form, a Sunday, early January in
		// the previous ISO year, a negative offset.
		{'I', time.Date(2021, 1, 3, 0, 5, 0, 0, time.UTC), "12"},
		{'l', time.Date(2021, 1, 3, 12, 5, 0, 0, time.UTC), "12"},
		{'p', time.Date(2021, 1, 3, 12, 5, 0, 0, time.UTC), "PM"},
		{'u', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), "7"},
		{'U', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), "01"},
		{'W', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), "00"},
		{'V', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), "53"},
		{'G', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), "2020"},
		{'e', time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), " 3"},
		{'z', time.Date(2021, 1, 3, 0, 0, 0, 0, time.FixedZone("X", -(3*3600+1800))), "-0330"},
	}
	for _, tt := range tests {
		t.Run(string(tt.code)+" "+tt.at.String(), func(t *testing.T) {
			if got := string(appendStrftime(nil, tt.code, tt.at)); got != tt.want {
				t.Errorf("strftime(%%%c, %v) = %q, want %q", tt.code, tt.at, got, tt.want)
			}
		})
	}
}

func TestNewPrinterTemplateErrors(t *testing.T) {
	// Texts as mosquitto_sub 2.0.11 prints them after "Error: ".
	tests := []struct {
		name   string
		format string
		text   string
	}{
		{"dangling percent", "%", "Incomplete format specifier."},
		{"dangling percent after text", "abc%", "Incomplete format specifier."},
		{"width without code", "%5", "Incomplete format specifier."},
		{"flag without code", "%-", "Incomplete format specifier."},
		{"zero flag without code", "%0", "Incomplete format specifier."},
		{"point without code", "%.", "Incomplete format specifier."},
		{"precision without code", "%10.3", "Incomplete format specifier."},
		{"separator without code", "%.2:", "Incomplete format specifier."},
		{"unknown code", "%Z", "Invalid format specifier 'Z'."},
		{"unknown lower code", "%k", "Invalid format specifier 'k'."},
		{"two separators", "%.2::x", "Invalid format specifier ':'."},
		{"digit after separator", "%0-5p", "Invalid format specifier '5'."},
		{"dangling at", "@", "Incomplete format specifier."},
		{"dangling at after text", "x@", "Incomplete format specifier."},
		{"dangling backslash", `abc\`, "Incomplete escape specifier."},
		{"unknown escape", `\z`, "Invalid escape specifier 'z'."},
		{"unknown escape x", `\x41`, "Invalid escape specifier 'x'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPrinter(Output{Format: tt.format})
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("NewPrinter(-F %q) = %v, %v; want *TemplateError", tt.format, p, err)
			}
			if te.Text != tt.text {
				t.Errorf("NewPrinter(-F %q) text %q, want %q", tt.format, te.Text, tt.text)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "format: ") || strings.Contains(msg, "\n") {
				t.Errorf("Error() = %q, want one line starting with \"format: \"", msg)
			}
		})
	}
}

func TestNewPrinterAcceptsMosquittoTemplates(t *testing.T) {
	for _, f := range []string{"%-05p", "%10.10t", "%.2x", "%.2:x", "%d", "%f", "@Q", "@@", `\0`, "%%", "%.t", "%00p", "%.%", "@%", `@\`} {
		if _, err := NewPrinter(Output{Format: f}); err != nil {
			t.Errorf("NewPrinter(-F %q) = %v, want no error", f, err)
		}
	}
}

func TestHugeWidthIsCapped(t *testing.T) {
	got, err := render(t, "%99999999999999999999p", bareMessage())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxField {
		t.Errorf("len(Print(%%99999999999999999999p)) = %d, want %d", len(got), maxField)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"%t %p", "%-010.3x", "%.2:X", "@Y@N@@", `\e[1m%J\e[0m`, "%j", "%", "%5", "@", `\`, "%f%d", "%99999999p"} {
		f.Add(s, []byte("payload"))
	}
	f.Add(`%J`, []byte(`{"a":[1,{"b":"\ud83d\ude00"}]}`))
	f.Fuzz(func(t *testing.T, format string, payload []byte) {
		p, err := NewPrinter(Output{Format: format, Pretty: len(payload)%2 == 0})
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("NewPrinter(%q) error %T %v, want *TemplateError", format, err, err)
			}
			return
		}
		m := fullMessage()
		m.Payload = payload
		var b bytes.Buffer
		if err := p.Print(&b, m, testTime); err != nil && !errors.Is(err, ErrPayload) {
			t.Fatalf("Print(-F %q, %q) error %v", format, payload, err)
		}
	})
}
