// Package broker is an MQTT 3.1, 3.1.1 and 5.0 broker. A Server accepts
// connections on any net.Listener with Serve, which takes the listeners
// that start and stop together; the server stops when its last Serve call
// does, and then publishes the wills of its clients first. Sessions, subscriptions, queued and inflight messages and retained
// messages live behind the Store interface; authentication and access
// control behind Authenticator.
//
// Each connection has a read goroutine that decodes packets with package
// packet and handles them, and a write goroutine that exists only while the
// connection's bounded outbound queue is not empty, so an idle connection
// costs one goroutine and a small read buffer. A packet that comes alone
// (nothing more waited in the read buffer of the connection whose packet
// caused it) and finds the queue empty is written at once, by the goroutine
// that made it, with a system call that does not block; the socket's
// leftovers go to the write goroutine. Publishers do not wait for
// subscribers to read: a delivery appends to the subscriber's queue or is
// dropped and counted when the limits in Options are reached. They do wait
// while the session they deliver to sends a SUBSCRIBE's retained messages,
// which keeps those ahead of later messages, as in mosquitto.
//
// Lock order (a lock may be taken while holding the ones before it, never
// the other way round):
//
//	Server.sysMu    one $SYS round (publishSys)
//	Server.mu       the session table and lifecycle flags
//	session.mu      one session's subscriptions, inflight and queued messages
//	conn.wmu        one connection's outbound packet queue
//
// topicTree.mu, the Store's own locks and the stats atomics are leaves: code
// holding them calls nothing that takes another lock.
package broker
