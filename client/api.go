// Package client is mqtool's one MQTT client, used by pub, sub, rr, bench
// and the broker's tests.
//
// Dial connects over TCP, TLS, WebSocket or a unix socket, sends CONNECT at
// MQTT 3.1, 3.1.1 or 5.0 and waits for CONNACK. A Client then publishes at
// QoS 0, 1 and 2 within an inflight window, subscribes, answers the
// server's publishes from a single read goroutine, and sends PINGREQ when
// idle. Writes from every goroutine are queued into one buffer that a writer
// goroutine flushes to the connection, so a pipelined publisher pays one
// system call per batch rather than per packet.
//
// At MQTT 5 the client holds the server to our Receive Maximum
// (DISCONNECT 0x93 when exceeded) and itself to the server's Maximum
// Packet Size: an acknowledgement, DISCONNECT or AUTH over it goes without
// Reason String and User Properties, any other packet over it is refused
// with an error and the connection stays up. Options.Authenticate and
// Reauthenticate carry enhanced authentication (AUTH, section 4.12).
//
// Packet ids are allocated by the client (p.PacketID is overwritten).
// Errors are prefixed "client: " and wrap the cause (net errors,
// packet.ReasonCode).
package client
