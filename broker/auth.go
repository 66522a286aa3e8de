package broker

import (
	"context"
	"fmt"

	"github.com/mqtool/mqtool/packet"
)

// Access is what a client asks to do with a topic.
type Access int

// Access kinds checked by Authenticator.Authorize.
const (
	AccessPublish   Access = iota + 1 // publish to a topic name (mosquitto "write")
	AccessSubscribe                   // subscribe to a topic filter
	AccessReceive                     // receive a message on a topic name (mosquitto "read")
)

// String returns "publish", "subscribe" or "receive".
func (a Access) String() string {
	switch a {
	case AccessPublish:
		return "publish"
	case AccessSubscribe:
		return "subscribe"
	case AccessReceive:
		return "receive"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Client identifies a connected client to an Authenticator.
type Client struct {
	ID       string
	Username string
	Remote   string // remote address
}

// Authenticator decides who may connect and what they may do. A mosquitto
// password file and ACL file, or a plugin, implement it. Authorize is
// called with a session lock held for AccessReceive, so it must not call
// back into the Server.
type Authenticator interface {
	// Authenticate returns Success to accept c, or the CONNACK reason code
	// to refuse it with (e.g. BadUserNameOrPassword, NotAuthorized).
	Authenticate(ctx context.Context, c *packet.Connect) packet.ReasonCode
	// Authorize reports whether cl may perform a on topic (a name, or a
	// filter for AccessSubscribe).
	Authorize(ctx context.Context, cl Client, a Access, topic string) bool
}

// AllowAll accepts every client and allows everything, like mosquitto
// without a configuration file (allow_anonymous true).
type AllowAll struct{}

// Authenticate returns Success.
func (AllowAll) Authenticate(context.Context, *packet.Connect) packet.ReasonCode {
	return packet.Success
}

// Authorize returns true.
func (AllowAll) Authorize(context.Context, Client, Access, string) bool { return true }
