package format

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

func print1(t *testing.T, o Output, m *packet.Publish) string {
	t.Helper()
	p, err := NewPrinter(o)
	if err != nil {
		t.Fatalf("NewPrinter(%+v): %v", o, err)
	}
	var b strings.Builder
	if err := p.Print(&b, m, testTime); err != nil {
		t.Fatalf("Print: %v", err)
	}
	return b.String()
}

func TestPrintPlain(t *testing.T) {
	empty := &packet.Publish{Topic: "a/b"}
	bin := &packet.Publish{Topic: "a/b", Payload: []byte("\x00\xff\n")}
	tests := []struct {
		name string
		o    Output
		msg  *packet.Publish
		want string
	}{
		{"default", Output{}, bareMessage(), "hello\n"},
		{"default binary passes through", Output{}, bin, "\x00\xff\n\n"},
		{"default empty payload prints nothing", Output{}, empty, ""},
		{"-N", Output{NoEOL: true}, bareMessage(), "hello"},
		{"-N empty", Output{NoEOL: true}, empty, ""},
		{"-v", Output{Verbose: true}, bareMessage(), "a/b hello\n"},
		{"-v empty is (null)", Output{Verbose: true}, empty, "a/b (null)\n"},
		{"-v -N", Output{Verbose: true, NoEOL: true}, bareMessage(), "a/b hello"},
		{"-v -N empty prints nothing", Output{Verbose: true, NoEOL: true}, empty, ""},
		{"-F overrides -v", Output{Verbose: true, Format: "[%p]"}, bareMessage(), "[hello]\n"},
		{"-F with empty payload", Output{Format: "[%p]"}, empty, "[]\n"},
		{"-F -N", Output{Format: "%t", NoEOL: true}, bareMessage(), "a/b"},
		{"colour off has no escapes", Output{Verbose: true}, bareMessage(), "a/b hello\n"},
		{"colour never touches -F", Output{Format: "%t %p", Color: true}, bareMessage(), "a/b hello\n"},
		{"colour on default payload stays raw", Output{Color: true}, bareMessage(), "hello\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := print1(t, tt.o, tt.msg); got != tt.want {
				t.Errorf("Print(%+v, %q) = %q, want %q", tt.o, tt.msg.Payload, got, tt.want)
			}
		})
	}
}

func TestPrintVerboseColour(t *testing.T) {
	tests := []struct {
		name   string
		msg    *packet.Publish
		prefix string // the topic in bold cyan
		plain  string
	}{
		{"payload", bareMessage(), "\x1b[36;1ma/b\x1b[", "a/b hello\n"},
		{"null payload faint", &packet.Publish{Topic: "a/b"}, "\x1b[36;1ma/b\x1b[", "a/b (null)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := print1(t, Output{Verbose: true, Color: true}, tt.msg)
			if !strings.HasPrefix(got, tt.prefix) {
				t.Errorf("Print(-v, colour) = %q, want it to start with %q", got, tt.prefix)
			}
			if stripANSI(got) != tt.plain {
				t.Errorf("Print(-v, colour) without escapes = %q, want %q", stripANSI(got), tt.plain)
			}
		})
	}
	if got := print1(t, Output{Verbose: true, Color: true}, &packet.Publish{Topic: "a/b"}); !strings.Contains(got, "\x1b[2m(null)") {
		t.Errorf("Print(-v, colour, empty) = %q, want a faint (null)", got)
	}
}

func TestPrintJSON(t *testing.T) {
	multi := fullMessage()
	tests := []struct {
		name string
		o    Output
		msg  *packet.Publish
		want string
	}{
		{
			name: "text payload",
			o:    Output{JSON: true},
			msg:  bareMessage(),
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"a/b","qos":0,"retain":false,"payloadlen":5,"payload":"hello"}` + "\n",
		},
		{
			name: "binary payload is base64",
			o:    Output{JSON: true},
			msg:  &packet.Publish{Topic: "b", QoS: 2, PacketID: 7, Payload: []byte{0xff, 0x00, 0x01}},
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"b","qos":2,"retain":false,"payloadlen":3,"mid":7,"payload":"/wAB","encoding":"base64"}` + "\n",
		},
		{
			name: "empty payload is an empty string",
			o:    Output{JSON: true},
			msg:  &packet.Publish{Topic: "e"},
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"e","qos":0,"retain":false,"payloadlen":0,"payload":""}` + "\n",
		},
		{
			name: "every property; binary correlation data; several subscription identifiers",
			o:    Output{JSON: true},
			msg:  multi,
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"sensors/temp","qos":1,"retain":true,"payloadlen":5,"mid":42,` +
				`"properties":{"subscription-identifier":[9,12],"topic-alias":3,"payload-format-indicator":1,"content-type":"text/plain",` +
				`"response-topic":"reply/here","correlation-data":"corr\u0000id","user-properties":[{"k":"v1"},{"k":"v2"}],` +
				`"message-expiry-interval":3600},"payload":"hello"}` + "\n",
		},
		{
			name: "escaping",
			o:    Output{JSON: true},
			msg:  &packet.Publish{Topic: "q\"\\", Payload: []byte("a\"b\\c\n\t\x01é<>&")},
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"q\"\\","qos":0,"retain":false,"payloadlen":13,"payload":"a\"b\\c\n\t\u0001é<>&"}` + "\n",
		},
		{
			name: "JSON overrides -F and -v, and ignores -N",
			o:    Output{JSON: true, Format: "%t", Verbose: true, NoEOL: true},
			msg:  bareMessage(),
			want: `{"tst":"2016-08-10T09:47:38.786368+05:30","topic":"a/b","qos":0,"retain":false,"payloadlen":5,"payload":"hello"}` + "\n",
		},
		{
			name: "pretty",
			o:    Output{JSON: true, Pretty: true},
			msg: func() *packet.Publish {
				m := bareMessage()
				m.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
				return m
			}(),
			want: "{\n  \"tst\": \"2016-08-10T09:47:38.786368+05:30\",\n  \"topic\": \"a/b\",\n  \"qos\": 0,\n  \"retain\": false,\n" +
				"  \"payloadlen\": 5,\n  \"properties\": {\n    \"user-properties\": [\n      {\n        \"k\": \"v\"\n      }\n    ]\n  },\n" +
				"  \"payload\": \"hello\"\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := print1(t, tt.o, tt.msg)
			if got != tt.want {
				t.Errorf("Print(%+v) =\n%s\nwant\n%s", tt.o, got, tt.want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("Print(%+v) is not JSON: %v", tt.o, err)
			}
		})
	}
}

func TestPrintJSONColour(t *testing.T) {
	m := fullMessage()
	for _, pretty := range []bool{false, true} {
		got := print1(t, Output{JSON: true, Pretty: pretty, Color: true}, m)
		for _, want := range []string{"\x1b[34;1m\"topic\"\x1b[", "\x1b[32m\"sensors/temp\"\x1b[", "\x1b[36m42\x1b[", "\x1b[33mtrue\x1b["} {
			if !strings.Contains(got, want) {
				t.Errorf("Print(--json, pretty %v, colour) = %q, want it to contain %q", pretty, got, want)
			}
		}
		plain := print1(t, Output{JSON: true, Pretty: pretty}, m)
		if strings.Contains(plain, "\x1b") {
			t.Errorf("Print(--json, pretty %v, no colour) = %q, want no escape sequences", pretty, plain)
		}
		if stripANSI(got) != plain {
			t.Errorf("coloured output without escapes = %q, want %q", stripANSI(got), plain)
		}
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type failWriter struct{}

var errClosed = errors.New("closed pipe")

func (failWriter) Write([]byte) (int, error) { return 0, errClosed }

func TestPrintReturnsWriteError(t *testing.T) {
	for _, o := range []Output{{}, {Verbose: true}, {Format: "%J"}, {JSON: true}} {
		p, err := NewPrinter(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Print(failWriter{}, &packet.Publish{Topic: "t", Payload: []byte("not json")}, testTime); !errors.Is(err, errClosed) {
			t.Errorf("Print(%+v) to a failing writer = %v, want the write error", o, err)
		}
	}
}

func TestPrintReusesBuffer(t *testing.T) {
	p, err := NewPrinter(Output{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	m := bareMessage()
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		p.Print(&b, m, testTime)
	})
	if allocs > 1 {
		t.Errorf("Print(-v) allocates %v times per message, want at most 1 (the strings.Builder)", allocs)
	}
}
