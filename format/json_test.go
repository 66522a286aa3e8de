package format

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

func TestCNumber(t *testing.T) {
	// Wanted values are glibc's printf("%1.15g") and ("%1.17g") results,
	// as cJSON 1.7.15 chooses between them.
	tests := []struct {
		in   float64
		want string
	}{
		{0.1, "0.1"},
		{0.3, "0.3"},
		{1e20, "1e+20"},
		{math.Copysign(0, -1), "-0"},
		{0, "0"},
		{123456789012345678, "1.2345678901234568e+17"},
		{1.5e-7, "1.5e-07"},
		{100, "100"},
		{3.14159265358979, "3.14159265358979"},
		{1e15, "1e+15"},
		{123456789012345, "123456789012345"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1e-300, "1e-300"},
		{5e-324, "4.94065645841247e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{-2.5, "-2.5"},
		{1234.5678, "1234.5678"},
		{math.Inf(1), "null"},
		{math.NaN(), "null"},
	}
	for _, tt := range tests {
		if got := string(appendCNumber(nil, tt.in)); got != tt.want {
			t.Errorf("appendCNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseCJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // reprinted unformatted; "" means rejected
	}{
		{"object", `{"a":1}`, `{"a":1}`},
		{"surrounding whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", `{"a":[1,2]}`},
		{"control bytes count as whitespace", "\x01\x1f7\x02", `7`},
		{"byte order mark", "\xEF\xBB\xBF[true,false,null]", `[true,false,null]`},
		{"numbers reformatted", `[1.0,2.50,-0,1e2,1E-2,007,1.]`, `[1,2.5,-0,100,0.01,7,1]`},
		{"huge number is null", `[1e400,-1e400]`, `[null,null]`},
		{"string escapes", `"\"\\\/\b\f\n\r\t\u00e9\u20ac"`, `"\"\\/\b\f\n\r\té€"`},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"raw control character in string", "\"a\x01b\"", `"a\u0001b"`},
		{"invalid UTF-8 in string kept", "\"\xff\"", "\"\xff\""},
		{"escaped NUL ends the C string", `"a\u0000b"`, `"a"`},
		{"duplicate keys kept", `{"k":1,"k":2}`, `{"k":1,"k":2}`},
		{"empty containers", `[{},[]]`, `[{},[]]`},
		{"bare string", `"x"`, `"x"`},
		{"empty", ``, ``},
		{"only whitespace", `   `, ``},
		{"trailing garbage", `{} x`, ``},
		{"two values", `1 2`, ``},
		{"trailing comma", `[1,]`, ``},
		{"leading plus", `+1`, ``},
		{"leading point", `.5`, ``},
		{"lone minus", `-`, ``},
		{"incomplete exponent", `1e`, ``},
		{"hex number", `0x10`, ``},
		{"unterminated string", `"abc`, ``},
		{"bad escape", `"\x"`, ``},
		{"bad unicode escape", `"\u12g4"`, ``},
		{"lone low surrogate", `"\udc00"`, ``},
		{"high surrogate without low", `"\ud800x"`, ``},
		{"unquoted key", `{a:1}`, ``},
		{"missing colon", `{"a" 1}`, ``},
		{"embedded NUL", "1\x00", ``},
		{"capitalised literal", `True`, ``},
		{"too deep", strings.Repeat("[", 1001) + strings.Repeat("]", 1001), ``},
		{"deep but allowed", strings.Repeat("[", 1000) + strings.Repeat("]", 1000), strings.Repeat("[", 1000) + strings.Repeat("]", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := parseCJSON([]byte(tt.in))
			if ok != (tt.want != "") {
				t.Fatalf("parseCJSON(%q) ok = %v, want %v", tt.in, ok, tt.want != "")
			}
			if !ok {
				return
			}
			if got := string(appendCJSON(nil, v, false, 1)); got != tt.want {
				t.Errorf("parseCJSON(%q) printed %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMosquittoJSON(t *testing.T) {
	json5 := fullMessage()
	json5.Payload = []byte(`{"t":[21.5,{"ok":true}],"e":{}}`)
	bin := &packet.Publish{Topic: "bin", Payload: []byte("ab\x00cd\x1f\"\\\xff")}
	tests := []struct {
		name   string
		format string
		pretty bool
		msg    *packet.Publish
		want   string
	}{
		{
			name:   "escaped payload with every property",
			format: "%j",
			msg:    fullMessage(),
			want: `{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"sensors/temp","qos":1,"retain":1,"payloadlen":5,"mid":42,` +
				`"properties":{"subscription-identifier":9,"subscription-identifier":12,"topic-alias":3,"payload-format-indicator":1,` +
				`"content-type":"text/plain","response-topic":"reply/here","correlation-data":"corr","user-properties":{"k":"v1","k":"v2"},` +
				`"message-expiry-interval":3600},"payload":"hello"}`,
		},
		{
			name:   "QoS 0 has no mid, no properties",
			format: "%j",
			msg:    bareMessage(),
			want:   `{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"a/b","qos":0,"retain":0,"payloadlen":5,"payload":"hello"}`,
		},
		{
			name:   "empty payload is null",
			format: "%j|%J",
			msg:    &packet.Publish{Topic: "e"},
			want: `{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"e","qos":0,"retain":0,"payloadlen":0,"payload":null}|` +
				`{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"e","qos":0,"retain":0,"payloadlen":0,"payload":null}`,
		},
		{
			name:   "binary payload stops at NUL",
			format: "%j",
			msg:    bin,
			want:   `{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"bin","qos":0,"retain":0,"payloadlen":9,"payload":"ab"}`,
		},
		{
			name:   "control characters escaped, high bytes raw",
			format: "%j",
			msg:    &packet.Publish{Topic: "c", Payload: []byte("\x1f\"\\\xff\t")},
			want:   "{\"tst\":\"2016-08-10T09:47:38.786368Z+0530\",\"topic\":\"c\",\"qos\":0,\"retain\":0,\"payloadlen\":5,\"payload\":\"\\u001f\\\"\\\\\xff\\t\"}",
		},
		{
			name:   "JSON payload embedded",
			format: "%J",
			msg:    json5,
			want: `{"tst":"2016-08-10T09:47:38.786368Z+0530","topic":"sensors/temp","qos":1,"retain":1,"payloadlen":31,"mid":42,` +
				`"properties":{"subscription-identifier":9,"subscription-identifier":12,"topic-alias":3,"payload-format-indicator":1,` +
				`"content-type":"text/plain","response-topic":"reply/here","correlation-data":"corr","user-properties":{"k":"v1","k":"v2"},` +
				`"message-expiry-interval":3600},"payload":{"t":[21.5,{"ok":true}],"e":{}}}`,
		},
		{
			name:   "pretty",
			format: "%J",
			pretty: true,
			msg: func() *packet.Publish {
				m := bareMessage()
				m.Payload = []byte(`{"t":[21.5,{"ok":true}],"e":{},"a":[]}`)
				m.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
				return m
			}(),
			want: "{\n\t\"tst\":\t\"2016-08-10T09:47:38.786368Z+0530\",\n\t\"topic\":\t\"a/b\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n" +
				"\t\"payloadlen\":\t38,\n\t\"properties\":\t{\n\t\t\"user-properties\":\t{\n\t\t\t\"k\":\t\"v\"\n\t\t}\n\t},\n" +
				"\t\"payload\":\t{\n\t\t\"t\":\t[21.5, {\n\t\t\t\t\"ok\":\ttrue\n\t\t\t}],\n\t\t\"e\":\t{\n\t\t},\n\t\t\"a\":\t[]\n\t}\n}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPrinter(Output{Format: tt.format, Pretty: tt.pretty, NoEOL: true})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := p.Print(&b, tt.msg, testTime); err != nil {
				t.Fatalf("Print(-F %q) error %v", tt.format, err)
			}
			if b.String() != tt.want {
				t.Errorf("Print(-F %q) =\n%s\nwant\n%s", tt.format, b.String(), tt.want)
			}
		})
	}
}

func TestInvalidJSONPayload(t *testing.T) {
	p, err := NewPrinter(Output{Format: "<%t %J %l>"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = p.Print(&b, &packet.Publish{Topic: "t/x", Payload: []byte("not json")}, testTime)
	var je *InvalidJSONError
	if !errors.As(err, &je) || !errors.Is(err, ErrPayload) {
		t.Fatalf("Print error = %v, want *InvalidJSONError wrapping ErrPayload", err)
	}
	if want := "<t/x  8>\n"; b.String() != want {
		t.Errorf("Print wrote %q, want %q (the rest of the template goes on)", b.String(), want)
	}
	if want := "Error: Message payload is not valid JSON on topic t/x.\n"; je.Notice() != want {
		t.Errorf("Notice() = %q, want %q", je.Notice(), want)
	}
}

func TestInvalidJSONPayloadTwice(t *testing.T) {
	p, err := NewPrinter(Output{Format: "%J%J"})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Print(&strings.Builder{}, &packet.Publish{Topic: "t", Payload: []byte("x")}, testTime)
	var je *InvalidJSONError
	if !errors.As(err, &je) {
		t.Fatalf("Print error = %v, want *InvalidJSONError", err)
	}
	want := strings.Repeat("Error: Message payload is not valid JSON on topic t.\n", 2)
	if je.Notice() != want {
		t.Errorf("Notice() = %q, want %q", je.Notice(), want)
	}
}
