package commands

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mqtool/mqtool/client"
	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    brokerURL
		wantErr string
	}{
		{name: "mqtt host port topic", in: "mqtt://broker:1884/a/b",
			want: brokerURL{scheme: "mqtt", host: "broker", port: 1884, topic: "a/b"}},
		{name: "no port", in: "mqtts://broker/t",
			want: brokerURL{scheme: "mqtts", host: "broker", port: -1, topic: "t"}},
		{name: "user and password", in: "mqtt://me:s3cr:t@127.0.0.1:1/x",
			want: brokerURL{scheme: "mqtt", host: "127.0.0.1", port: 1, user: "me", pass: "s3cr:t", userSet: true, passSet: true, topic: "x"}},
		{name: "user only", in: "ws://me@h/x",
			want: brokerURL{scheme: "ws", host: "h", port: -1, user: "me", userSet: true, topic: "x"}},
		{name: "ipv6", in: "wss://[::1]:8884/x/#",
			want: brokerURL{scheme: "wss", host: "::1", port: 8884, topic: "x/#"}},
		{name: "scheme case", in: "MQTT://h/t",
			want: brokerURL{scheme: "mqtt", host: "h", port: -1, topic: "t"}},
		{name: "empty topic", in: "mqtt://h/",
			want: brokerURL{scheme: "mqtt", host: "h", port: -1, topic: ""}},
		{name: "bad scheme", in: "http://h/t", wantErr: "Unsupported URL scheme."},
		{name: "no scheme", in: "h/t", wantErr: "Unsupported URL scheme."},
		{name: "no topic", in: "mqtt://h:1883", wantErr: "Invalid URL for -L argument specified - topic missing."},
		{name: "bad port", in: "mqtt://h:99999/t", wantErr: "Invalid port given: 99999"},
		{name: "no host", in: "mqtt://:1883/t", wantErr: "Invalid URL for -L argument specified - host missing."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseURL(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(brokerURL{})); diff != "" {
				t.Errorf("parseURL(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func propWords(s ...string) string { return strings.Join(s, propSep) }

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		check   func(*propertySet) bool
		wantErr string
	}{
		{name: "publish string", specs: []string{propWords("publish", "content-type", "text/plain")},
			check: func(p *propertySet) bool {
				return p.Publish.ContentType == "text/plain" && p.Publish.Has(packet.PropContentType)
			}},
		{name: "command case", specs: []string{propWords("PUBLISH", "message-expiry-interval", "0x10")},
			check: func(p *propertySet) bool { return p.Publish.MessageExpiry == 16 }},
		{name: "user properties keep order", specs: []string{propWords("connect", "user-property", "k", "v1"), propWords("connect", "user-property", "k", "v2")},
			check: func(p *propertySet) bool {
				return len(p.Connect.User) == 2 && p.Connect.User[0].Value == "v1" && p.Connect.User[1].Value == "v2"
			}},
		{name: "topic alias flagged", specs: []string{propWords("publish", "topic-alias", "3")},
			check: func(p *propertySet) bool { return p.TopicAlias && p.Publish.TopicAlias == 3 }},
		{name: "will delay", specs: []string{propWords("will", "will-delay-interval", "30")},
			check: func(p *propertySet) bool { return p.Will.WillDelay == 30 }},
		{name: "disconnect expiry", specs: []string{propWords("disconnect", "session-expiry-interval", "7")},
			check: func(p *propertySet) bool { return p.Disconnect.SessionExpiry == 7 }},
		{name: "correlation data binary", specs: []string{propWords("publish", "correlation-data", "abc")},
			check: func(p *propertySet) bool { return string(p.Publish.CorrelationData) == "abc" }},
		{name: "too few", specs: []string{propWords("publish", "content-type")},
			wantErr: "--property argument given but not enough arguments specified."},
		{name: "user property too few", specs: []string{propWords("publish", "user-property", "k")},
			wantErr: "--property argument given but not enough arguments specified."},
		{name: "bad command", specs: []string{propWords("bogus", "content-type", "x")},
			wantErr: "Invalid command bogus given in --property argument."},
		{name: "bad property", specs: []string{propWords("publish", "colour", "x")},
			wantErr: "Invalid property name colour given in --property argument."},
		{name: "not allowed", specs: []string{propWords("connect", "content-type", "x")},
			wantErr: "content-type property not allowed for connect in --property argument."},
		{name: "subscription id on publish", specs: []string{propWords("publish", "subscription-identifier", "1")},
			wantErr: "subscription-identifier property not supported for publish in --property argument."},
		{name: "auth unsupported", specs: []string{propWords("auth", "authentication-method", "x")},
			wantErr: "authentication-method property not supported for auth in --property argument."},
		{name: "not a number", specs: []string{propWords("publish", "message-expiry-interval", "soon")},
			wantErr: "Property value 'soon' not a number."},
		{name: "out of range", specs: []string{propWords("connect", "receive-maximum", "70000")},
			wantErr: "Property value (70000) out of range for property receive-maximum."},
		{name: "topic alias 0", specs: []string{propWords("publish", "topic-alias", "0")},
			wantErr: "Property value (0) out of range for property topic-alias."},
		{name: "negative", specs: []string{propWords("publish", "message-expiry-interval", "-1")},
			wantErr: "Property value (-1) out of range for property message-expiry-interval."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProperties(tt.specs)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseProperties(%q) error = %v, want %q", tt.specs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseProperties(%q) error = %v", tt.specs, err)
			}
			if !tt.check(got) {
				t.Errorf("parseProperties(%q) = %+v, check failed", tt.specs, got)
			}
		})
	}
}

func TestJoinPropertyArgs(t *testing.T) {
	value := map[string]bool{"t": true, "m": true, "property": true, "D": true}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "three words", in: []string{"-t", "a", "-D", "publish", "content-type", "x", "-m", "hi"},
			want: []string{"-t", "a", "--property=" + propWords("publish", "content-type", "x"), "-m", "hi"}},
		{name: "user property", in: []string{"--property", "connect", "user-property", "k", "v"},
			want: []string{"--property=" + propWords("connect", "user-property", "k", "v")}},
		{name: "value that looks like -D", in: []string{"-m", "-D", "-t", "x"},
			want: []string{"-m", "-D", "-t", "x"}},
		{name: "short", in: []string{"-D", "publish"},
			want: []string{"--property=publish"}},
		{name: "after --", in: []string{"--", "-D", "a", "b", "c"},
			want: []string{"--", "-D", "a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := joinPropertyArgs(tt.in, value)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("joinPropertyArgs(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestOptionFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "opts")
	content := "# comment\n-h  broker.example\n\n-t a topic/with space\r\n-c\n-D publish user-property k v\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	value := map[string]bool{"h": true, "t": true, "o": true, "m": true}
	got, err := optionFileArgs("pub", []string{"-m", "x", "-o", path}, value)
	if err != nil {
		t.Fatalf("optionFileArgs: %v", err)
	}
	want := []string{"-h", "broker.example", "-t", "a topic/with space", "-c", "-D", "publish", "user-property", "k", "v"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("optionFileArgs mismatch (-want +got):\n%s", diff)
	}

	t.Run("default file", func(t *testing.T) {
		t.Setenv("XDG_CONFIG_HOME", dir)
		if err := os.MkdirAll(filepath.Join(dir, "mqtool"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "mqtool", "sub"), []byte("-v\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := optionFileArgs("sub", nil, value)
		if err != nil || len(got) != 1 || got[0] != "-v" {
			t.Errorf("optionFileArgs(sub) = %q, %v, want [-v]", got, err)
		}
		got, err = optionFileArgs("rr", nil, value)
		if err != nil || len(got) != 0 {
			t.Errorf("optionFileArgs(rr) with no file = %q, %v, want nothing", got, err)
		}
	})
	errTests := []struct {
		name string
		args []string
		want string
	}{
		{name: "duplicate", args: []string{"-o", path, "-o", path}, want: "Duplicate -o argument given."},
		{name: "missing value", args: []string{"-o"}, want: "-o argument given but no options file specified."},
		{name: "missing file", args: []string{"-o", filepath.Join(dir, "nope")}, want: "Unable to open options file"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := optionFileArgs("pub", tt.args, value)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("optionFileArgs(%q) error = %v, want prefix %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestCheckTopic(t *testing.T) {
	tests := []struct {
		name, cmd, topic, want string
	}{
		{name: "pub plain", cmd: "pub", topic: "a/b"},
		{name: "sub wildcard", cmd: "sub", topic: "a/+/#"},
		{name: "pub wildcard", cmd: "pub", topic: "a/#", want: "Invalid publish topic 'a/#', does it contain '+' or '#'?"},
		{name: "sub bad wildcard", cmd: "sub", topic: "a#", want: "Invalid subscription topic 'a#', are all '+' and '#' wildcards correct?"},
		{name: "malformed UTF-8", cmd: "pub", topic: "a/\xff", want: "Malformed UTF-8 in -t argument."},
		{name: "sub malformed UTF-8", cmd: "sub", topic: "\xc3", want: "Malformed UTF-8 in -t argument."},
		{name: "NUL", cmd: "sub", topic: "a\x00b", want: "Malformed UTF-8 in -t argument."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTopic(tt.cmd, tt.topic, "-t")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("checkTopic(%q, %q) = %q, want %q", tt.cmd, tt.topic, got, tt.want)
			}
		})
	}
}

func TestClientExit(t *testing.T) {
	refused := func(v packet.Version, rc packet.ReasonCode) error {
		return fmt.Errorf("wrapped: %w", &client.ConnectError{Connack: &packet.Connack{ReasonCode: rc}, Version: v})
	}
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantMsg  string
	}{
		{name: "v3 not authorised", err: refused(packet.V311, packet.NotAuthorized), wantCode: 5,
			wantMsg: "Connection error: Connection Refused: not authorised.\n"},
		{name: "v3 bad password", err: refused(packet.V311, packet.BadUserNameOrPassword), wantCode: 4,
			wantMsg: "Connection error: Connection Refused: bad user name or password.\n"},
		{name: "v5 banned", err: refused(packet.V5, packet.ReasonCode(0x8A)), wantCode: 138,
			wantMsg: "Connection error: Banned\n"},
		{name: "v5 unsupported version", err: refused(packet.V5, packet.ReasonCode(0x84)), wantCode: 132,
			wantMsg: "Connection error: Unsupported protocol version. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n"},
		{name: "dns", err: fmt.Errorf("client: %w", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), wantCode: 15,
			wantMsg: "Error: client: lookup x.invalid: no such host\n"},
		{name: "refused", err: fmt.Errorf("client: dial: %w", syscall.ECONNREFUSED), wantCode: 14,
			wantMsg: "Error: client: dial: connection refused\n"},
		{name: "lost", err: fmt.Errorf("client: read: %w", io.EOF), wantCode: 7, wantMsg: "Error: client: read: EOF\n"},
		{name: "tls", err: fmt.Errorf("client: %w", x509.UnknownAuthorityError{}), wantCode: 8},
		{name: "protocol", err: fmt.Errorf("client: %w", packet.ProtocolError), wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := clientExit(&format.Streams{Err: &stderr}, tt.err, false)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != tt.wantCode || !ee.Silent {
				t.Fatalf("clientExit(%v) = %#v, want a silent exit %d", tt.err, err, tt.wantCode)
			}
			if tt.wantMsg != "" && stderr.String() != tt.wantMsg {
				t.Errorf("clientExit(%v) printed %q, want %q", tt.err, stderr.String(), tt.wantMsg)
			}
			stderr.Reset()
			_ = clientExit(&format.Streams{Err: &stderr}, tt.err, true)
			if stderr.Len() != 0 {
				t.Errorf("clientExit(%v, quiet) printed %q", tt.err, stderr.String())
			}
		})
	}
}
