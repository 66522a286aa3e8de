// Package client is mqtool's one MQTT client, used by pub, sub, rr, bench
// and the broker's tests.
//
// CONTRACT (written by the lead before implementation; the client helper
// implements exactly these exported names and may add more, but must not
// change these signatures without telling the lead):
//
//	type Options struct {
//		URL            string        // mqtt://host:port, mqtts://, ws://host:port/path, wss://, unix:///path
//		Version        packet.Version // default V311
//		ClientID       string
//		CleanStart     bool
//		KeepAlive      uint16         // seconds; 0 disables pings
//		Username       string
//		UsernameSet    bool           // send the user name flag even when Username is ""
//		Password       []byte
//		PasswordSet    bool
//		Will           *packet.Will
//		ConnectProps   packet.Properties // v5 CONNECT properties (session expiry, receive max, ...)
//		TLS            *tls.Config    // for mqtts/wss
//		BindAddress    string         // -A: local address to bind
//		NoDelay        bool           // TCP_NODELAY (Go sets it by default; false leaves the default)
//		MaxInflight    int            // outbound QoS 1/2 window; 0 = 20; capped by the server's Receive Maximum
//		ConnectTimeout time.Duration  // default 10s
//		Trace          func(sent bool, p packet.Packet) // -d: called for every packet sent and received
//		OnMessage      func(p *packet.Publish)          // called in order from the read loop; the QoS 1/2 ack is sent after it returns
//		OnDisconnect   func(p *packet.Disconnect)       // server sent DISCONNECT (v5)
//		Dialer         func(ctx context.Context) (net.Conn, error) // optional: replaces URL dialing (tests, fault injection)
//	}
//
//	func Dial(ctx context.Context, opts Options) (*Client, error)
//	   // connects, sends CONNECT, waits for CONNACK. A refusal returns *ConnectError.
//	type ConnectError struct{ Connack *packet.Connack; Version packet.Version }
//	   // Error() "client: connection refused: not authorized"; Code() int = the exit code mosquitto uses
//	   // (the v3 return code at 3.1.x, the v5 reason code at 5).
//	func (c *Client) Connack() *packet.Connack
//	func (c *Client) Version() packet.Version
//	func (c *Client) Publish(ctx context.Context, p *packet.Publish) error
//	   // QoS 0: returns when written. QoS 1/2: allocates the packet id, waits for a window slot, returns after
//	   // PUBACK / PUBCOMP; a v5 reason code >= 0x80 is returned as an error wrapping packet.ReasonCode.
//	   // Topic alias: if p.Props has PropTopicAlias, the client sends the topic only the first time.
//	func (c *Client) PublishAsync(ctx context.Context, p *packet.Publish, done func(err error)) error
//	   // returns once the packet is written (after waiting for a window slot); done runs on completion
//	   // (ack received, or immediately for QoS 0). For pipelined senders (pub -l, bench).
//	func (c *Client) Subscribe(ctx context.Context, s *packet.Subscribe) (*packet.Suback, error)
//	func (c *Client) Unsubscribe(ctx context.Context, u *packet.Unsubscribe) (*packet.Unsuback, error)
//	func (c *Client) Disconnect(ctx context.Context, d *packet.Disconnect) error // sends DISCONNECT (nil = normal), closes
//	func (c *Client) Close() error       // closes the connection without DISCONNECT (the will is sent)
//	func (c *Client) Done() <-chan struct{} // closed when the connection is gone
//	func (c *Client) Err() error          // why it ended: nil after Disconnect, else the cause
//
// Packet ids are allocated by the client (p.PacketID is overwritten).
// Errors are prefixed "client: " and wrap the cause (net errors, packet.ReasonCode).
package client
