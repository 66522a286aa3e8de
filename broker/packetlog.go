package broker

import (
	"fmt"
	"net"

	"github.com/mqtool/mqtool/packet"
)

// packetLines returns how mosquitto 2.0's -v log shows p, received from or
// sent to the client id at protocol level v, one string per log line; nil
// for CONNECT, logged as "New client connected", and PUBLISH, logged by
// logPublish with the topic behind any Topic Alias.
func packetLines(received bool, v packet.Version, id string, p packet.Packet) []string {
	if received {
		switch p := p.(type) {
		case *packet.Puback:
			return []string{fmt.Sprintf("Received PUBACK from %s (Mid: %d, RC:%d)", id, p.PacketID, byte(p.ReasonCode))}
		case *packet.Pubrec:
			return []string{fmt.Sprintf("Received PUBREC from %s (Mid: %d)", id, p.PacketID)}
		case *packet.Pubrel:
			return []string{fmt.Sprintf("Received PUBREL from %s (Mid: %d)", id, p.PacketID)}
		case *packet.Pubcomp:
			return []string{fmt.Sprintf("Received PUBCOMP from %s (Mid: %d, RC:%d)", id, p.PacketID, byte(p.ReasonCode))}
		case *packet.Subscribe:
			lines := []string{"Received SUBSCRIBE from " + id}
			for _, s := range p.Subscriptions {
				lines = append(lines, fmt.Sprintf("\t%s (QoS %d)", s.Filter, s.QoS))
			}
			return lines
		case *packet.Unsubscribe:
			lines := []string{"Received UNSUBSCRIBE from " + id}
			for _, f := range p.Filters {
				lines = append(lines, "\t"+f)
			}
			return lines
		case *packet.Pingreq:
			return []string{"Received PINGREQ from " + id}
		case *packet.Disconnect:
			return []string{"Received DISCONNECT from " + id}
		case *packet.Auth:
			return []string{fmt.Sprintf("Received AUTH from %s (rc%d, %s)", id, byte(p.ReasonCode), p.Props.AuthMethod)}
		}
		return nil
	}
	switch p := p.(type) {
	case *packet.Connack:
		rc := byte(p.ReasonCode)
		if v != packet.V5 {
			rc = p.ReasonCode.ConnackV3() // what the wire carries
		}
		return []string{fmt.Sprintf("Sending CONNACK to %s (%d, %d)", id, b2i(p.SessionPresent), rc)}
	case *packet.Puback:
		return []string{fmt.Sprintf("Sending PUBACK to %s (m%d, rc%d)", id, p.PacketID, byte(p.ReasonCode))}
	case *packet.Pubrec:
		return []string{fmt.Sprintf("Sending PUBREC to %s (m%d, rc%d)", id, p.PacketID, byte(p.ReasonCode))}
	case *packet.Pubrel:
		return []string{fmt.Sprintf("Sending PUBREL to %s (m%d)", id, p.PacketID)}
	case *packet.Pubcomp:
		return []string{fmt.Sprintf("Sending PUBCOMP to %s (m%d)", id, p.PacketID)}
	case *packet.Suback:
		return []string{"Sending SUBACK to " + id}
	case *packet.Unsuback:
		return []string{"Sending UNSUBACK to " + id}
	case *packet.Pingresp:
		return []string{"Sending PINGRESP to " + id}
	case *packet.Disconnect:
		return []string{fmt.Sprintf("Sending DISCONNECT to %s (rc%d)", id, byte(p.ReasonCode))}
	case *packet.Auth:
		return []string{fmt.Sprintf("Sending AUTH to %s (rc%d, %s)", id, byte(p.ReasonCode), p.Props.AuthMethod)}
	}
	return nil
}

// Verbs of publishLine.
const (
	publishReceived = "Received PUBLISH from"
	publishSent     = "Sending PUBLISH to"
	publishDenied   = "Denied PUBLISH from"
)

// publishLine is mosquitto's log line for PUBLISH p on topic, which is the
// topic name even when p carries a Topic Alias instead.
func publishLine(verb, id string, p *packet.Publish, topic string) string {
	return fmt.Sprintf("%s %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
		verb, id, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, topic, len(p.Payload))
}

// logName is the client as the packet log names it: its client id, else
// the one its CONNECT asked for, else its address without the port, as
// mosquitto does.
func (c *conn) logName() string {
	switch {
	case c.clientID != "":
		return c.clientID
	case c.connectID != "":
		return c.connectID
	}
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		return host
	}
	return c.remote
}

// logPacket logs p as mosquitto -v does; the caller checks s.logPackets.
func (c *conn) logPacket(received bool, p packet.Packet) {
	for _, line := range packetLines(received, c.version, c.logName(), p) {
		c.s.opts.Log(LogDebug, line)
	}
}

// logPublish logs PUBLISH p on topic with verb (publishReceived, ...);
// the caller checks s.logPackets.
func (c *conn) logPublish(verb string, p *packet.Publish, topic string) {
	c.s.opts.Log(LogDebug, publishLine(verb, c.logName(), p, topic))
}

// willLine returns mosquitto's log lines for the will of a CONNECT.
func willLines(w *packet.Will) []string {
	if w == nil {
		return []string{"No will message specified."}
	}
	return []string{
		fmt.Sprintf("Will message specified (%d bytes) (r%d, q%d).", len(w.Payload), b2i(w.Retain), w.QoS),
		"\t" + w.Topic,
	}
}

// listenerPort returns the port of a listener's address for mosquitto's
// "New connection from ... on port N.", 0 when it has none.
func listenerPort(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}
