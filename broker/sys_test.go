package broker

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

func TestSys(t *testing.T) {
	addr, _ := startServer(t, Options{SysInterval: 100 * time.Millisecond, Version: "test"})
	c := connected(t, addr, packet.V311, "sys")
	c.subscribe(1, sub("sys/keep", 0))
	p := connected(t, addr, packet.V311, "sys-pub")
	p.publish(&packet.Publish{Topic: "sys/keep", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("r")})
	c.sync()
	want := map[string]func(v string) bool{
		"$SYS/broker/version":                   func(v string) bool { return strings.Contains(v, "test") },
		"$SYS/broker/uptime":                    func(v string) bool { return strings.HasSuffix(v, " seconds") },
		"$SYS/broker/clients/connected":         atLeast(2),
		"$SYS/broker/clients/total":             atLeast(2),
		"$SYS/broker/clients/maximum":           atLeast(2),
		"$SYS/broker/messages/received":         atLeast(4),
		"$SYS/broker/messages/sent":             atLeast(4),
		"$SYS/broker/publish/messages/dropped":  atLeast(0),
		"$SYS/broker/bytes/received":            atLeast(10),
		"$SYS/broker/bytes/sent":                atLeast(10),
		"$SYS/broker/retained messages/count":   atLeast(1),
		"$SYS/broker/subscriptions/count":       atLeast(1),
		"$SYS/broker/publish/messages/received": atLeast(1),
	}
	s := connected(t, addr, packet.V311, "sys-watch")
	s.subscribe(1, sub("$SYS/#", 0))
	seen := map[string]bool{}
	deadline := time.Now().Add(testTimeout)
	for len(seen) < len(want) && time.Now().Before(deadline) {
		pub := recvAs[*packet.Publish](s)
		if check, ok := want[pub.Topic]; ok && check(string(pub.Payload)) {
			seen[pub.Topic] = true
		}
	}
	for topic := range want {
		if !seen[topic] {
			t.Errorf("%s not published with a plausible value", topic)
		}
	}
}

func atLeast(n int64) func(string) bool {
	return func(v string) bool {
		x, err := strconv.ParseInt(v, 10, 64)
		return err == nil && x >= n
	}
}
