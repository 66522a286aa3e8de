package broker

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/packet"
)

func TestSys(t *testing.T) {
	addr, _ := startServer(t, Options{SysInterval: 100 * time.Millisecond, Version: "test"})
	c := connected(t, addr, packet.V311, "sys")
	c.subscribe(1, sub("sys/keep", 0), sub("$share/g/sys/shared", 0))
	p := connected(t, addr, packet.V311, "sys-pub")
	p.publish(&packet.Publish{Topic: "sys/keep", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("r")})
	c.sync()
	// A session that expires a second after its client leaves.
	e := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "sys-expire"}
	cp.Props.SetUint(packet.PropSessionExpiry, 1)
	e.connect(cp)
	e.nc.Close()
	want := map[string]func(v string) bool{
		"$SYS/broker/version":                    func(v string) bool { return strings.Contains(v, "test") },
		"$SYS/broker/uptime":                     func(v string) bool { return strings.HasSuffix(v, " seconds") },
		"$SYS/broker/clients/connected":          atLeast(2),
		"$SYS/broker/clients/total":              atLeast(2),
		"$SYS/broker/clients/maximum":            atLeast(2),
		"$SYS/broker/messages/received":          atLeast(4),
		"$SYS/broker/messages/sent":              atLeast(4),
		"$SYS/broker/publish/messages/dropped":   atLeast(0),
		"$SYS/broker/bytes/received":             atLeast(10),
		"$SYS/broker/bytes/sent":                 atLeast(10),
		"$SYS/broker/retained messages/count":    atLeast(1),
		"$SYS/broker/subscriptions/count":        atLeast(1),
		"$SYS/broker/publish/messages/received":  atLeast(1),
		"$SYS/broker/clients/active":             atLeast(2),
		"$SYS/broker/clients/inactive":           atLeast(0),
		"$SYS/broker/clients/expired":            atLeast(1),
		"$SYS/broker/shared_subscriptions/count": atLeast(1),
		"$SYS/broker/messages/stored":            atLeast(1),
		"$SYS/broker/store/messages/count":       atLeast(1),
		"$SYS/broker/store/messages/bytes":       atLeast(0),
		"$SYS/broker/publish/bytes/received":     atLeast(1),
		"$SYS/broker/publish/bytes/sent":         atLeast(1),
		"$SYS/broker/heap/current":               atLeast(1),
		"$SYS/broker/heap/maximum":               atLeast(1),
	}
	for _, topic := range loadTopics {
		for _, w := range loadWindows {
			want["$SYS/broker/load/"+topic+"/"+w.name] = func(v string) bool {
				x, err := strconv.ParseFloat(v, 64)
				return err == nil && x >= 0 && strings.Count(v, ".") == 1 && len(v)-strings.Index(v, ".") == 3
			}
		}
	}
	// Something moves: messages arrive, so their load rises above zero.
	want["$SYS/broker/load/messages/received/1min"] = func(v string) bool {
		x, err := strconv.ParseFloat(v, 64)
		return err == nil && x > 0
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

// TestSysLoad checks the moving averages behind $SYS/broker/load/: rates
// per minute, averaged exponentially over 1, 5 and 15 minutes.
func TestSysLoad(t *testing.T) {
	t0 := time.Unix(1000, 0)
	counts := func(n int64) (c [len(loadTopics)]int64) {
		for i := range c {
			c[i] = n * int64(i+1)
		}
		return c
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.005 }
	type step struct {
		at time.Duration // after t0
		n  int64         // the first counter's total then
	}
	oneMinute := [3]float64{600 * (1 - math.Exp(-1)), 600 * (1 - math.Exp(-0.2)), 600 * (1 - math.Exp(-1.0/15))}
	tests := []struct {
		name  string
		steps []step
		want  [len(loadWindows)]float64
	}{
		{"first count only sets the start", nil, [3]float64{0, 0, 0}},
		{"one minute at 600 a minute", []step{{time.Minute, 600}}, oneMinute},
		{"the same in two half minutes", []step{{30 * time.Second, 300}, {time.Minute, 600}}, oneMinute},
		{"no time passed", []step{{0, 0}}, [3]float64{0, 0, 0}},
		{"counts at no time passed go into the next update", []step{{0, 250}, {time.Minute, 600}}, oneMinute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l sysLoad
			l.update(t0, counts(0))
			for _, st := range tt.steps {
				l.update(t0.Add(st.at), counts(st.n))
			}
			for j, w := range loadWindows {
				if got := l.avg[0][j]; !near(got, tt.want[j]) {
					t.Errorf("%s average = %.4f, want %.4f", w.name, got, tt.want[j])
				}
				// The other counters grew i+1 times as fast.
				if got := l.avg[2][j]; !near(got, 3*tt.want[j]) {
					t.Errorf("third counter's %s average = %.4f, want %.4f", w.name, got, 3*tt.want[j])
				}
			}
		})
	}
	t.Run("a steady rate reads the rate in every window", func(t *testing.T) {
		var l sysLoad
		l.update(t0, counts(0))
		for m := int64(1); m <= 24*60; m++ {
			l.update(t0.Add(time.Duration(m)*time.Minute), counts(m*600))
		}
		for j, w := range loadWindows {
			if got := l.avg[0][j]; !near(got, 600) {
				t.Errorf("%s average after a day at 600 a minute = %.4f, want 600", w.name, got)
			}
		}
	})
}

// TestSysStoreCount checks $SYS/broker/store/messages/count and bytes: a
// message queued for two sessions, and one both retained and queued, count
// once each, as in mosquitto's message store.
func TestSysStoreCount(t *testing.T) {
	addr, s := startServer(t, Options{})
	for _, id := range []string{"dur1", "dur2"} {
		c := dial(t, addr, packet.V311)
		c.connect(&packet.Connect{ClientID: id})
		c.subscribe(1, sub("x/#", 1))
		c.send(&packet.Disconnect{})
		c.closed()
		waitFor(t, id+" offline", func() bool { return sessionOffline(t, addr, id) })
	}
	p := connected(t, addr, packet.V311, "store-pub")
	p.publish(&packet.Publish{Topic: "x/r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("rr")})
	p.publish(&packet.Publish{Topic: "x/y", QoS: 1, PacketID: 2, Payload: []byte("12345")})
	for round := 1; round <= 2; round++ {
		s.sysMu.Lock()
		held, bytes := s.storeCounts(&s.load)
		s.sysMu.Unlock()
		if held != 2 || bytes != 7 {
			t.Errorf("round %d: store count %d messages, %d bytes; want 2 and 7", round, held, bytes)
		}
	}
}

// TestSysOnlyChanges checks that a $SYS value is published again only when
// it changed: a subscriber watching for several intervals gets the version
// once (retained, on subscribing) and the uptime more than once.
func TestSysOnlyChanges(t *testing.T) {
	addr, _ := startServer(t, Options{SysInterval: 50 * time.Millisecond, Version: "test"})
	s := connected(t, addr, packet.V311, "sys-changes")
	s.subscribe(1, sub("$SYS/broker/version", 0), sub("$SYS/broker/uptime", 0))
	counts := map[string]int{}
	deadline := time.Now().Add(testTimeout)
	for counts["$SYS/broker/uptime"] < 3 && time.Now().Before(deadline) {
		pub := recvAs[*packet.Publish](s)
		counts[pub.Topic]++
	}
	if counts["$SYS/broker/uptime"] < 3 {
		t.Fatalf("uptime published %d times in %v, want at least 3", counts["$SYS/broker/uptime"], testTimeout)
	}
	if n := counts["$SYS/broker/version"]; n != 1 {
		t.Errorf("version published %d times while uptime changed %d times, want once", n, counts["$SYS/broker/uptime"])
	}
}

// TestSysNotWritable checks that clients cannot publish into $SYS, as in
// mosquitto: a v5 client gets Not authorized, a 3.1.1 client a plain
// PUBACK, and nothing is stored or delivered. Other $ topics are allowed.
func TestSysNotWritable(t *testing.T) {
	addr, _ := startServer(t, Options{SysInterval: -1})
	w := connected(t, addr, packet.V5, "sys-w-watch")
	w.subscribe(1, sub("$SYS/#", 0), sub("$other/#", 0))
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := connected(t, addr, v, "sys-w-"+v.String())
		c.send(&packet.Publish{Topic: "$SYS/broker/version", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("spoofed")})
		ack := recvAs[*packet.Puback](c)
		want := packet.NotAuthorized
		if v != packet.V5 {
			want = packet.Success
		}
		if ack.ReasonCode != want {
			t.Errorf("%v: PUBACK %v, want %v", v, ack.ReasonCode, want)
		}
	}
	if got := w.sync(); len(got) != 0 {
		t.Errorf("watcher got %v, want nothing published into $SYS", got)
	}
	p := connected(t, addr, packet.V311, "sys-w-other")
	p.publish(&packet.Publish{Topic: "$other/x", QoS: 1, PacketID: 1, Payload: []byte("ok")})
	if got := recvAs[*packet.Publish](w); got.Topic != "$other/x" {
		t.Errorf("watcher got %q, want $other/x", got.Topic)
	}
	late := connected(t, addr, packet.V311, "sys-w-late")
	late.subscribe(1, sub("$SYS/#", 0))
	if got := late.sync(); len(got) != 0 {
		t.Errorf("a new $SYS subscriber got %v, want no retained spoof", got)
	}
}
