package broker

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

func TestTopicTreeMatch(t *testing.T) {
	tests := []struct {
		filter string
		topics map[string]bool
	}{
		{"a/b", map[string]bool{"a/b": true, "a": false, "a/b/c": false, "a/c": false}},
		{"a/+", map[string]bool{"a/b": true, "a/": true, "a": false, "a/b/c": false}},
		{"a/#", map[string]bool{"a": true, "a/b": true, "a/b/c": true, "b/a": false}},
		{"#", map[string]bool{"a": true, "/": true, "$SYS/x": false, "$foo": false}},
		{"+/b", map[string]bool{"a/b": true, "/b": true, "$SYS/b": false}},
		{"+/+", map[string]bool{"a/b": true, "$x/b": false}},
		{"$SYS/#", map[string]bool{"$SYS/broker/uptime": true, "$SYS": true, "a": false}},
		{"/+", map[string]bool{"/a": true, "a": false}},
		{"+", map[string]bool{"a": true, "": true, "a/b": false, "$a": false}},
		{"$share/g/a/+", map[string]bool{"a/b": true, "a": false}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var tree topicTree
			ss := newSession(nil, "x")
			tree.add(ss, Subscription{Filter: tt.filter})
			for topic, want := range tt.topics {
				got := len(tree.match(topic, nil)) == 1
				if got != want {
					t.Errorf("match(%q, %q) = %v, want %v", tt.filter, topic, got, want)
				}
				if pm := packet.Match(tt.filter, topic); pm != want {
					t.Errorf("packet.Match(%q, %q) = %v, want %v (tree and codec disagree)", tt.filter, topic, pm, want)
				}
			}
			if !tree.remove(ss, tt.filter) || tree.len() != 0 || !tree.root.empty() {
				t.Errorf("remove(%q): tree not empty after removing its only subscription", tt.filter)
			}
		})
	}
}

func TestWildcardSubscriptions(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V311, "wild")
	s.subscribe(1, sub("w/+/c", 0), sub("w/x/#", 0), sub("#", 0))
	p := connected(t, addr, packet.V311, "wild-pub")
	p.publish(&packet.Publish{Topic: "w/y/c", QoS: 1, PacketID: 1, Payload: []byte("1")})
	p.publish(&packet.Publish{Topic: "w/x", QoS: 1, PacketID: 1, Payload: []byte("2")})
	p.publish(&packet.Publish{Topic: "$SYS/fake", QoS: 1, PacketID: 1, Payload: []byte("3")})
	got := s.sync()
	var payloads []string
	for _, g := range got {
		payloads = append(payloads, string(g.(*packet.Publish).Payload))
	}
	if !slices.Equal(payloads, []string{"1", "2"}) {
		t.Errorf("payloads %v, want [1 2] ($-topic not matched by #)", payloads)
	}
}

func TestOverlappingSubscriptions(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := dial(t, addr, packet.V5)
	s.connect(&packet.Connect{ClientID: "ov", CleanStart: true})
	for i, f := range []struct {
		filter string
		qos    packet.QoS
	}{{"ov/#", 0}, {"ov/+", 2}, {"ov/a", 1}} {
		sp := &packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{sub(f.filter, f.qos)}}
		sp.Props.SetUint(packet.PropSubscriptionID, uint64(i+1))
		s.send(sp)
		recvAs[*packet.Suback](s)
	}
	p := connected(t, addr, packet.V5, "ov-pub")
	p.publish(&packet.Publish{Topic: "ov/a", QoS: 2, PacketID: 1, Payload: []byte("x")})
	got := s.sync()
	if len(got) != 1 {
		t.Fatalf("got %d packets %v, want one delivery per client", len(got), got)
	}
	pub := got[0].(*packet.Publish)
	if pub.QoS != 2 {
		t.Errorf("QoS %d, want 2 (highest)", pub.QoS)
	}
	ids := slices.Clone(pub.Props.SubscriptionIDs)
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Errorf("subscription identifiers %v, want [1 2 3]", ids)
	}
}

func TestNoLocal(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := connected(t, addr, packet.V5, "nl")
	c.subscribe(1, packet.Subscription{Filter: "nl", QoS: 1, NoLocal: true})
	other := connected(t, addr, packet.V5, "nl-other")
	other.subscribe(1, sub("nl", 1))
	c.publish(&packet.Publish{Topic: "nl", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if got := c.sync(); len(got) != 0 {
		t.Errorf("publisher got its own message %v with No Local", got)
	}
	if got := other.sync(); len(got) != 1 {
		t.Errorf("other subscriber got %v, want the message", got)
	}
}

func TestSharedSubscriptions(t *testing.T) {
	addr, _ := startServer(t, Options{})
	var members []*tc
	for i := range 3 {
		m := connected(t, addr, packet.V5, fmt.Sprintf("sh%d", i))
		m.subscribe(1, sub("$share/g/sh/#", 0))
		members = append(members, m)
	}
	plain := connected(t, addr, packet.V5, "sh-plain")
	plain.subscribe(1, sub("sh/#", 0))
	p := connected(t, addr, packet.V5, "sh-pub")
	for i := range 6 {
		p.publish(&packet.Publish{Topic: "sh/x", QoS: 1, PacketID: 1, Payload: []byte{byte(i)}})
	}
	for i, m := range members {
		if got := m.sync(); len(got) != 2 {
			t.Errorf("member %d got %d messages, want 2 (round-robin over 3 members)", i, len(got))
		}
	}
	if got := plain.sync(); len(got) != 6 {
		t.Errorf("non-shared subscriber got %d, want all 6", len(got))
	}
}

func TestUnsubscribe(t *testing.T) {
	addr, _ := startServer(t, Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			topic := "un/" + v.String()
			s := connected(t, addr, v, "un-"+v.String())
			s.subscribe(1, sub(topic, 1))
			s.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{topic, "never/subscribed"}})
			ack := recvAs[*packet.Unsuback](s)
			if ack.PacketID != 2 {
				t.Errorf("UNSUBACK id %d, want 2", ack.PacketID)
			}
			if v == packet.V5 && !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}) {
				t.Errorf("UNSUBACK codes %v, want [success, no subscription existed]", ack.ReasonCodes)
			}
			p := connected(t, addr, v, "un-pub-"+v.String())
			p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("x")})
			if got := s.sync(); len(got) != 0 {
				t.Errorf("got %v after unsubscribe", got)
			}
		})
	}
}

func TestSubscribeInvalidFilter(t *testing.T) {
	addr, _ := startServer(t, Options{})
	c := connected(t, addr, packet.V5, "badfilter")
	// "a/#/b" cannot be encoded by a careful codec user, so write it raw:
	// SUBSCRIBE id 1, no properties, filter "a/#/b", options 0.
	c.sendRaw([]byte{0x82, 0x0b, 0, 1, 0, 0, 5, 'a', '/', '#', '/', 'b', 0})
	got := c.closed()
	if len(got) != 1 {
		t.Fatalf("got %v, want DISCONNECT", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.TopicFilterInvalid {
		t.Errorf("got %+v, want DISCONNECT 0x8F", got[0])
	}
}
