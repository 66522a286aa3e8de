package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

// authWire hand-encodes an AUTH as the client should send it: reason code,
// property length, then Authentication Method (0x15) and, if not empty,
// Authentication Data (0x16), each a two-byte length and the bytes
// (section 3.15.2). Short strings only: every length fits one byte.
func authWire(rc packet.ReasonCode, method, data string) []byte {
	props := append([]byte{0x15, 0, byte(len(method))}, method...)
	if data != "" {
		props = append(props, 0x16, 0, byte(len(data)))
		props = append(props, data...)
	}
	body := append([]byte{byte(rc), byte(len(props))}, props...)
	return append([]byte{0xF0, byte(len(body))}, body...)
}

func TestAuthWire(t *testing.T) {
	// f0 0f: AUTH, remaining length 15; 18: continue authentication;
	// 0d: 13 bytes of properties; 15 00 05 SCRAM: method; 16 00 02 c2: data.
	want := []byte{0xF0, 0x0F, 0x18, 0x0D, 0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', 0x16, 0x00, 0x02, 'c', '2'}
	if got := authWire(packet.ContinueAuthentication, "SCRAM", "c2"); !bytes.Equal(got, want) {
		t.Fatalf("authWire = % x, want % x", got, want)
	}
	p, err := packet.Decode(want[0], want[2:], packet.V5)
	if err != nil {
		t.Fatalf("Decode(% x) = %v", want, err)
	}
	if a := p.(*packet.Auth); a.Props.AuthMethod != "SCRAM" || string(a.Props.AuthData) != "c2" {
		t.Errorf("Decode(% x) = %+v", want, a)
	}
}

// serverAuth returns an AUTH from the server with method and data.
func serverAuth(rc packet.ReasonCode, method, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: rc}
	a.Props.SetString(packet.PropAuthMethod, method)
	if data != "" {
		a.Props.SetString(packet.PropAuthData, data)
	}
	return a
}

// authProps returns v5 CONNECT properties starting enhanced authentication.
func authProps(method, data string) packet.Properties {
	var p packet.Properties
	p.SetString(packet.PropAuthMethod, method)
	if data != "" {
		p.SetString(packet.PropAuthData, data)
	}
	return p
}

// echoAuth answers a challenge X with "re:X".
func echoAuth(ctx context.Context, a *packet.Auth) (*packet.Auth, error) {
	r := &packet.Auth{}
	r.Props.SetString(packet.PropAuthData, "re:"+string(a.Props.AuthData))
	return r, nil
}

func TestConnectAuth(t *testing.T) {
	tests := []struct {
		name       string
		challenges []string
		hook       func(context.Context, *packet.Auth) (*packet.Auth, error)
		want       [][]byte // the client's AUTH for each challenge
	}{
		{"one round", []string{"s1"}, echoAuth,
			[][]byte{authWire(packet.ContinueAuthentication, "SCRAM", "re:s1")}},
		{"two rounds", []string{"s1", "s2"}, echoAuth, [][]byte{
			authWire(packet.ContinueAuthentication, "SCRAM", "re:s1"),
			authWire(packet.ContinueAuthentication, "SCRAM", "re:s2"),
		}},
		{"reason code and method forced", []string{"s1"},
			func(ctx context.Context, a *packet.Auth) (*packet.Auth, error) {
				r := serverAuth(packet.ReAuthenticate, "OTHER", "x")
				return r, nil
			},
			[][]byte{authWire(packet.ContinueAuthentication, "SCRAM", "x")}},
		{"nil reply sends no data", []string{"s1"},
			func(context.Context, *packet.Auth) (*packet.Auth, error) { return nil, nil },
			[][]byte{authWire(packet.ContinueAuthentication, "SCRAM", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				cp := expect[*packet.Connect](f)
				if cp == nil {
					return
				}
				if cp.Props.AuthMethod != "SCRAM" || string(cp.Props.AuthData) != "c1" {
					t.Errorf("CONNECT auth %q %q, want SCRAM c1", cp.Props.AuthMethod, cp.Props.AuthData)
				}
				for i, ch := range tt.challenges {
					f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", ch))
					if got := f.readRaw(); !bytes.Equal(got, tt.want[i]) {
						t.Errorf("round %d: client sent % x, want % x", i+1, got, tt.want[i])
					}
				}
				var ca packet.Connack
				ca.Props = authProps("SCRAM", "final")
				f.write(&ca)
				expect[*packet.Disconnect](f)
			})
			var mu sync.Mutex
			var seen []string
			c := dial(t, s, Options{Version: packet.V5, ConnectProps: authProps("SCRAM", "c1"),
				Authenticate: func(ctx context.Context, a *packet.Auth) (*packet.Auth, error) {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s %s %s", a.ReasonCode.String(), a.Props.AuthMethod, a.Props.AuthData))
					mu.Unlock()
					if _, ok := ctx.Deadline(); !ok {
						t.Error("Authenticate during Dial got a context without deadline")
					}
					return tt.hook(ctx, a)
				}})
			if got := string(c.Connack().Props.AuthData); got != "final" {
				t.Errorf("CONNACK authentication data %q, want final", got)
			}
			var want []string
			for _, ch := range tt.challenges {
				want = append(want, "continue authentication SCRAM "+ch)
			}
			mu.Lock()
			if strings.Join(seen, ",") != strings.Join(want, ",") {
				t.Errorf("Authenticate saw %q, want %q", seen, want)
			}
			mu.Unlock()
			if err := c.Disconnect(context.Background(), nil); err != nil {
				t.Errorf("Disconnect = %v", err)
			}
		})
	}
}

func TestConnectAuthFails(t *testing.T) {
	errHook := errors.New("server proof does not verify")
	tests := []struct {
		name     string
		version  packet.Version
		props    packet.Properties
		hook     func(context.Context, *packet.Auth) (*packet.Auth, error)
		server   []byte // what the server sends after CONNECT
		wantDisc []byte // the client's DISCONNECT; nil: the client just closes
		wantErr  string
		wantIs   error
	}{
		{
			name: "AUTH when CONNECT had no method", version: packet.V5, hook: echoAuth,
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH, but CONNECT had no Authentication Method: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH with another method", version: packet.V5, props: authProps("SCRAM", "c1"), hook: echoAuth,
			server:   authWire(packet.ContinueAuthentication, "KERBEROS", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  `client: server sent AUTH with Authentication Method "KERBEROS", CONNECT had "SCRAM": protocol error`,
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH success before CONNACK", version: packet.V5, props: authProps("SCRAM", "c1"), hook: echoAuth,
			server:   authWire(packet.Success, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH success before CONNACK, want continue authentication: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH short form before CONNACK", version: packet.V5, props: authProps("SCRAM", "c1"), hook: echoAuth,
			server:   []byte{0xF0, 0x00},
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH success before CONNACK, want continue authentication: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "no Authenticate hook", version: packet.V5, props: authProps("SCRAM", "c1"),
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x80},
			wantErr:  `client: server continues authentication method "SCRAM", but Options.Authenticate is not set`,
		},
		{
			name: "hook fails", version: packet.V5, props: authProps("SCRAM", "c1"),
			hook:     func(context.Context, *packet.Auth) (*packet.Auth, error) { return nil, errHook },
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x80},
			wantErr:  `client: authenticate with method "SCRAM": server proof does not verify`,
			wantIs:   errHook,
		},
		{
			name: "hook fails with a DISCONNECT reason code", version: packet.V5, props: authProps("SCRAM", "c1"),
			hook: func(context.Context, *packet.Auth) (*packet.Auth, error) {
				return nil, fmt.Errorf("bad proof: %w", packet.NotAuthorized)
			},
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x87},
			wantErr:  `client: authenticate with method "SCRAM": bad proof: not authorized`,
			wantIs:   packet.NotAuthorized,
		},
		{
			name: "hook fails with a code DISCONNECT does not have", version: packet.V5, props: authProps("SCRAM", "c1"),
			hook: func(context.Context, *packet.Auth) (*packet.Auth, error) {
				return nil, fmt.Errorf("bad proof: %w", packet.BadAuthenticationMethod)
			},
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x80},
			wantErr:  `client: authenticate with method "SCRAM": bad proof: bad authentication method`,
			wantIs:   packet.BadAuthenticationMethod,
		},
		{
			name: "CONNACK with another method", version: packet.V5, props: authProps("SCRAM", "c1"), hook: echoAuth,
			// CONNACK, remaining length 11: flags 0, success, 8 bytes of
			// properties: Authentication Method "OTHER".
			server:   []byte{0x20, 0x0B, 0x00, 0x00, 0x08, 0x15, 0x00, 0x05, 'O', 'T', 'H', 'E', 'R'},
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  `client: CONNACK has Authentication Method "OTHER", CONNECT had "SCRAM": protocol error`,
			wantIs:   packet.ProtocolError,
		},
		{
			name: "CONNACK with a method CONNECT did not have", version: packet.V5, hook: echoAuth,
			server:   []byte{0x20, 0x0B, 0x00, 0x00, 0x08, 0x15, 0x00, 0x05, 'O', 'T', 'H', 'E', 'R'},
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  `client: CONNACK has Authentication Method "OTHER", but CONNECT had none: protocol error`,
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH at 3.1.1", version: packet.V311, hook: echoAuth,
			server:  []byte{0xF0, 0x00},
			wantErr: "client: read CONNACK: packet: AUTH at protocol level 4: malformed packet",
			wantIs:  packet.MalformedPacket,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				if expect[*packet.Connect](f) == nil {
					return
				}
				f.c.Write(tt.server)
				if tt.wantDisc != nil {
					f.expectBytes(tt.wantDisc)
				}
				if !f.closedByClient() {
					t.Error("client did not close the connection")
				}
			})
			c, err := Dial(context.Background(), Options{URL: s.url, Version: tt.version, ConnectProps: tt.props, Authenticate: tt.hook})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Dial error %q, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
}

func TestConnectAuthRefused(t *testing.T) {
	s := startFake(t, func(f *fakeConn) {
		if expect[*packet.Connect](f) == nil {
			return
		}
		f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
		f.readRaw()
		f.write(&packet.Connack{ReasonCode: packet.NotAuthorized})
	})
	c, err := Dial(context.Background(), Options{URL: s.url, Version: packet.V5, ConnectProps: authProps("SCRAM", "c1"), Authenticate: echoAuth})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Code() != 135 {
		t.Errorf("Dial = %v, want *ConnectError with code 135", err)
	}
}

func TestReauthenticate(t *testing.T) {
	tests := []struct {
		name string
		// server answers the client's AUTH 0x19; it returns false when the
		// client is expected to close.
		server  func(f *fakeConn) bool
		hook    func(context.Context, *packet.Auth) (*packet.Auth, error)
		wantErr string // "" for success
		wantIs  error
		want    string // the Authentication Data Reauthenticate returns
	}{
		{
			name: "success at once",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.Success, "SCRAM", "ok"))
				return true
			},
			want: "ok",
		},
		{
			name: "short form success",
			server: func(f *fakeConn) bool {
				f.c.Write([]byte{0xF0, 0x00})
				return true
			},
		},
		{
			name: "one challenge",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
				if got, want := f.readRaw(), authWire(packet.ContinueAuthentication, "SCRAM", "re:s1"); !bytes.Equal(got, want) {
					f.t.Errorf("client answered % x, want % x", got, want)
				}
				f.write(serverAuth(packet.Success, "SCRAM", "v=proof"))
				return true
			},
			hook: echoAuth,
			want: "v=proof",
		},
		{
			name: "server refuses with DISCONNECT",
			server: func(f *fakeConn) bool {
				f.write(&packet.Disconnect{ReasonCode: packet.NotAuthorized})
				return false
			},
			wantErr: "client: server sent DISCONNECT: not authorized",
			wantIs:  packet.NotAuthorized,
		},
		{
			name: "hook fails",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
				f.expectBytes([]byte{0xE0, 0x01, 0x80})
				return false
			},
			hook: func(context.Context, *packet.Auth) (*packet.Auth, error) {
				return nil, errors.New("no proof")
			},
			wantErr: `client: authenticate with method "SCRAM": no proof`,
		},
		{
			name: "no hook",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.ContinueAuthentication, "SCRAM", "s1"))
				f.expectBytes([]byte{0xE0, 0x01, 0x80})
				return false
			},
			wantErr: `client: server continues authentication method "SCRAM", but Options.Authenticate is not set`,
		},
		{
			name: "another method",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.Success, "OTHER", ""))
				f.expectBytes([]byte{0xE0, 0x01, 0x82})
				return false
			},
			wantErr: `client: server sent AUTH with Authentication Method "OTHER", CONNECT had "SCRAM": protocol error`,
			wantIs:  packet.ProtocolError,
		},
		{
			name: "re-authenticate from the server",
			server: func(f *fakeConn) bool {
				f.write(serverAuth(packet.ReAuthenticate, "SCRAM", ""))
				f.expectBytes([]byte{0xE0, 0x01, 0x82})
				return false
			},
			wantErr: "client: server sent AUTH re-authenticate: protocol error",
			wantIs:  packet.ProtocolError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				if f.accept(nil) == nil {
					return
				}
				if got, want := f.readRaw(), authWire(packet.ReAuthenticate, "SCRAM", "r1"); !bytes.Equal(got, want) {
					t.Errorf("client started with % x, want % x", got, want)
				}
				if !tt.server(f) {
					if !f.closedByClient() {
						t.Error("client did not close the connection")
					}
					return
				}
				expect[*packet.Disconnect](f)
			})
			c := dial(t, s, Options{Version: packet.V5, ConnectProps: authProps("SCRAM", "c1"), Authenticate: tt.hook})
			a, err := c.Reauthenticate(context.Background(), []byte("r1"))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Reauthenticate = %v", err)
				}
				if a == nil || string(a.Props.AuthData) != tt.want || a.ReasonCode != packet.Success {
					t.Errorf("Reauthenticate returned %+v, want success with data %q", a, tt.want)
				}
				if err := c.Disconnect(context.Background(), nil); err != nil {
					t.Errorf("Disconnect = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Reauthenticate = %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			waitDone(t, c)
			if c.Err() == nil || c.Err().Error() != tt.wantErr {
				t.Errorf("Err() = %v, want %q", c.Err(), tt.wantErr)
			}
		})
	}
}

func TestReauthenticateRefusedLocally(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"3.1.1", Options{Version: packet.V311}, "client: re-authentication needs MQTT 5, not 3.1.1"},
		{"no method in CONNECT", Options{Version: packet.V5}, "client: re-authentication needs an Authentication Method in CONNECT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				f.accept(nil)
				// Nothing but DISCONNECT: the refusal sends nothing.
				expect[*packet.Disconnect](f)
			})
			c := dial(t, s, tt.opts)
			if _, err := c.Reauthenticate(context.Background(), nil); err == nil || err.Error() != tt.wantErr {
				t.Errorf("Reauthenticate = %v, want %q", err, tt.wantErr)
			}
			if err := c.Disconnect(context.Background(), nil); err != nil {
				t.Errorf("Disconnect = %v", err)
			}
		})
	}
}

func TestReauthenticateOneAtATime(t *testing.T) {
	first := make(chan struct{})
	release := make(chan struct{})
	s := startFake(t, func(f *fakeConn) {
		f.accept(nil)
		expect[*packet.Auth](f)
		close(first)
		<-release
		f.write(serverAuth(packet.Success, "SCRAM", "1"))
		if a := expect[*packet.Auth](f); a != nil && string(a.Props.AuthData) != "second" {
			t.Errorf("second re-authentication sent %q, want second", a.Props.AuthData)
		}
		f.write(serverAuth(packet.Success, "SCRAM", "2"))
		expect[*packet.Disconnect](f)
	})
	c := dial(t, s, Options{Version: packet.V5, ConnectProps: authProps("SCRAM", "c1")})
	done := make(chan error, 1)
	go func() {
		_, err := c.Reauthenticate(context.Background(), []byte("first"))
		done <- err
	}()
	<-first
	if _, err := c.Reauthenticate(context.Background(), []byte("again")); err == nil ||
		err.Error() != "client: re-authentication already in progress" {
		t.Errorf("concurrent Reauthenticate = %v, want already in progress", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first Reauthenticate = %v", err)
	}
	a, err := c.Reauthenticate(context.Background(), []byte("second"))
	if err != nil || string(a.Props.AuthData) != "2" {
		t.Errorf("second Reauthenticate = %+v, %v; want data 2", a, err)
	}
	if err := c.Disconnect(context.Background(), nil); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
}

func TestUnexpectedAuthAfterConnack(t *testing.T) {
	tests := []struct {
		name     string
		version  packet.Version
		props    packet.Properties
		server   []byte
		wantDisc []byte // nil: the client closes without DISCONNECT
		wantErr  string
		wantIs   error
	}{
		{
			name: "continue with no re-authentication", version: packet.V5, props: authProps("SCRAM", "c1"),
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH continue authentication with no re-authentication in progress: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "success with no re-authentication", version: packet.V5, props: authProps("SCRAM", "c1"),
			server:   []byte{0xF0, 0x00},
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH success with no re-authentication in progress: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH when CONNECT had no method", version: packet.V5,
			server:   authWire(packet.ContinueAuthentication, "SCRAM", "s1"),
			wantDisc: []byte{0xE0, 0x01, 0x82},
			wantErr:  "client: server sent AUTH, but CONNECT had no Authentication Method: protocol error",
			wantIs:   packet.ProtocolError,
		},
		{
			name: "AUTH at 3.1.1", version: packet.V311,
			server:  []byte{0xF0, 0x00},
			wantErr: "client: read: packet: AUTH at protocol level 4: malformed packet",
			wantIs:  packet.MalformedPacket,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(f *fakeConn) {
				if f.accept(nil) == nil {
					return
				}
				f.c.Write(tt.server)
				if tt.wantDisc != nil {
					f.expectBytes(tt.wantDisc)
				}
				if !f.closedByClient() {
					t.Error("client did not close the connection")
				}
			})
			c := dial(t, s, Options{Version: tt.version, ConnectProps: tt.props, Authenticate: echoAuth})
			waitDone(t, c)
			if err := c.Err(); err == nil || err.Error() != tt.wantErr {
				t.Errorf("Err() = %v, want %q", err, tt.wantErr)
			}
			if !errors.Is(c.Err(), tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", c.Err(), tt.wantIs)
			}
		})
	}
}
