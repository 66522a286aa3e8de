package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqtool/mqtool/packet"
)

// MQTT 5 enhanced authentication (sections 3.15 and 4.12). CONNECT names
// the Authentication Method; the server may answer with AUTH 0x18 Continue
// authentication, which Options.Authenticate answers, until CONNACK. After
// CONNACK the client may start re-authentication with AUTH 0x19, which the
// server ends with AUTH 0x00 Success or with DISCONNECT.

// connectAuth answers an AUTH the server sent before CONNACK. On failure
// it returns the reason code of the DISCONNECT to send before closing.
func (c *Client) connectAuth(ctx context.Context, a *packet.Auth) (*packet.Auth, packet.ReasonCode, error) {
	if err := c.checkAuth(a); err != nil {
		return nil, packet.ProtocolError, err
	}
	if a.ReasonCode != packet.ContinueAuthentication {
		// Before CONNACK the server can only ask for more [MQTT-4.12.0-2].
		return nil, packet.ProtocolError, fmt.Errorf("client: server sent AUTH %s before CONNACK, want continue authentication: %w",
			a.ReasonCode.String(), packet.ProtocolError)
	}
	return c.continueAuth(ctx, a)
}

// checkAuth checks an AUTH from the server against the Authentication
// Method of CONNECT.
func (c *Client) checkAuth(a *packet.Auth) error {
	if c.authMethod == "" {
		return fmt.Errorf("client: server sent AUTH, but CONNECT had no Authentication Method: %w", packet.ProtocolError) // [MQTT-4.12.0-6]
	}
	// The codec lets only the short form, Success without properties, leave
	// the method out (section 3.15.2.1).
	if a.Props.Has(packet.PropAuthMethod) && a.Props.AuthMethod != c.authMethod {
		return fmt.Errorf("client: server sent AUTH with Authentication Method %q, CONNECT had %q: %w",
			a.Props.AuthMethod, c.authMethod, packet.ProtocolError) // [MQTT-4.12.0-5]
	}
	return nil
}

// checkConnackAuth checks the Authentication Method of a successful
// CONNACK: absent without enhanced authentication [MQTT-4.12.0-6], else
// the one of CONNECT [MQTT-4.12.0-5]. A server that leaves it out of the
// CONNACK is let through.
func (c *Client) checkConnackAuth(ca *packet.Connack) error {
	if !ca.Props.Has(packet.PropAuthMethod) || ca.Props.AuthMethod == c.authMethod {
		return nil
	}
	if c.authMethod == "" {
		return fmt.Errorf("client: CONNACK has Authentication Method %q, but CONNECT had none: %w",
			ca.Props.AuthMethod, packet.ProtocolError)
	}
	return fmt.Errorf("client: CONNACK has Authentication Method %q, CONNECT had %q: %w",
		ca.Props.AuthMethod, c.authMethod, packet.ProtocolError)
}

// continueAuth asks Options.Authenticate for the answer to a, an AUTH 0x18
// from the server, and returns the AUTH to send. On failure it returns the
// reason code of the DISCONNECT to send before closing.
func (c *Client) continueAuth(ctx context.Context, a *packet.Auth) (*packet.Auth, packet.ReasonCode, error) {
	if c.authenticate == nil {
		return nil, packet.UnspecifiedError, fmt.Errorf("client: server continues authentication method %q, but Options.Authenticate is not set",
			c.authMethod)
	}
	reply, err := c.authenticate(ctx, a)
	if err != nil {
		rc := packet.UnspecifiedError
		var want packet.ReasonCode
		if errors.As(err, &want) && want.IsError() && packet.ValidReason(packet.DISCONNECT, want) {
			rc = want
		}
		return nil, rc, fmt.Errorf("client: authenticate with method %q: %w", c.authMethod, err)
	}
	out := &packet.Auth{ReasonCode: packet.ContinueAuthentication} // [MQTT-4.12.0-3]
	if reply != nil {
		out.Props = reply.Props
	}
	out.Props.SetString(packet.PropAuthMethod, c.authMethod) // [MQTT-4.12.0-5]
	return out, 0, nil
}

// Reauthenticate starts re-authentication [MQTT-4.12.1-1]: it sends AUTH
// 0x19 with the Authentication Method of CONNECT and data as the
// Authentication Data (nil: none), lets Options.Authenticate answer any
// AUTH 0x18 from the server, and returns the server's AUTH 0x00 Success,
// whose Authentication Data may need checking. If the server refuses, it
// sends DISCONNECT and closes [MQTT-4.12.1-2]; Reauthenticate then returns
// why the connection ended, as Err does. One re-authentication runs at a
// time. When ctx ends first, the exchange goes on without a waiter and a
// new one cannot start until the server has finished it. It must not be
// called from a callback, whose return the server's answer waits for.
func (c *Client) Reauthenticate(ctx context.Context, data []byte) (*packet.Auth, error) {
	if c.version != packet.V5 {
		return nil, fmt.Errorf("client: re-authentication needs MQTT 5, not %s", c.version)
	}
	if c.authMethod == "" {
		return nil, errors.New("client: re-authentication needs an Authentication Method in CONNECT")
	}
	if c.onReader() {
		return nil, errors.New("client: Reauthenticate called from a callback")
	}
	ch := make(chan *packet.Auth, 1)
	c.reauthMu.Lock()
	if c.reauth != nil {
		c.reauthMu.Unlock()
		return nil, errors.New("client: re-authentication already in progress")
	}
	c.reauth = ch
	c.reauthMu.Unlock()

	a := &packet.Auth{ReasonCode: packet.ReAuthenticate}
	a.Props.SetString(packet.PropAuthMethod, c.authMethod)
	if data != nil {
		a.Props.AuthData = data
		a.Props.Set(packet.PropAuthData)
	}
	if err := c.sendSync(ctx, a); err != nil {
		c.endReauth()
		return nil, c.sendErr(err)
	}
	c.flush(true)
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		return nil, c.closedErr()
	case <-ctx.Done():
		return nil, fmt.Errorf("client: wait for AUTH: %w", ctx.Err())
	}
}

// endReauth marks the re-authentication finished and returns its waiter's
// channel, nil if none was in progress.
func (c *Client) endReauth() chan *packet.Auth {
	c.reauthMu.Lock()
	defer c.reauthMu.Unlock()
	ch := c.reauth
	c.reauth = nil
	return ch
}

// handleAuth handles an AUTH from the server after CONNACK, on the read
// goroutine; an error ends the connection.
func (c *Client) handleAuth(a *packet.Auth) error {
	if err := c.checkAuth(a); err != nil {
		c.protocolDisconnect(packet.ProtocolError)
		return err
	}
	c.reauthMu.Lock()
	active := c.reauth != nil
	c.reauthMu.Unlock()
	switch {
	case a.ReasonCode == packet.ReAuthenticate:
		// 0x19 is the client's to send (section 3.15.2.1).
		c.protocolDisconnect(packet.ProtocolError)
		return fmt.Errorf("client: server sent AUTH re-authenticate: %w", packet.ProtocolError)
	case !active:
		// Only the client starts re-authentication [MQTT-4.12.1-1].
		c.protocolDisconnect(packet.ProtocolError)
		return fmt.Errorf("client: server sent AUTH %s with no re-authentication in progress: %w", a.ReasonCode.String(), packet.ProtocolError)
	case a.ReasonCode == packet.Success:
		if ch := c.endReauth(); ch != nil {
			ch <- a
		}
		return nil
	}
	ctx, cancel := c.stopContext()
	defer cancel()
	reply, rc, err := c.continueAuth(ctx, a)
	if err == nil {
		err = c.send(context.Background(), reply)
		if errors.Is(err, ErrClosed) {
			return c.closedErr()
		}
		rc = packet.UnspecifiedError // the answer does not fit the server's Maximum Packet Size
	}
	if err != nil {
		c.protocolDisconnect(rc) // [MQTT-4.12.1-2]
		return err
	}
	return nil
}

// stopContext returns a context that ends when the connection is torn
// down, for a callback that runs on the read goroutine.
func (c *Client) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
