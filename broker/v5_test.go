package broker

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mqtool/mqtool/packet"
)

func TestTopicAliasInbound(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V5, "tai-sub")
	s.subscribe(1, sub("tai/#", 0))
	p := connected(t, addr, packet.V5, "tai-pub")
	first := &packet.Publish{Topic: "tai/x", QoS: 1, PacketID: 1, Payload: []byte("1")}
	first.Props.SetUint(packet.PropTopicAlias, 3)
	p.publish(first)
	second := &packet.Publish{QoS: 1, PacketID: 2, Payload: []byte("2")}
	second.Props.SetUint(packet.PropTopicAlias, 3)
	p.publish(second)
	got := s.sync()
	if len(got) != 2 {
		t.Fatalf("got %v, want 2 messages", got)
	}
	for _, g := range got {
		if pub := g.(*packet.Publish); pub.Topic != "tai/x" {
			t.Errorf("delivered on %q, want tai/x (alias resolved)", pub.Topic)
		}
	}
	tests := []struct {
		name  string
		alias uint16
		topic string
		want  packet.ReasonCode
	}{
		{"alias above maximum", 11, "tai/y", packet.TopicAliasInvalid},
		{"unknown alias", 5, "", packet.TopicAliasInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connected(t, addr, packet.V5, "tai-"+tt.name)
			pub := &packet.Publish{Topic: tt.topic, Payload: []byte("x")}
			pub.Props.SetUint(packet.PropTopicAlias, uint64(tt.alias))
			c.send(pub)
			got := c.closed()
			if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != tt.want {
				t.Errorf("got %v, want DISCONNECT %v", got, tt.want)
			}
		})
	}
}

func TestTopicAliasOutbound(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: "tao", CleanStart: true}
	cp.Props.SetUint(packet.PropTopicAliasMaximum, 1)
	s.connect(cp)
	s.subscribe(1, sub("tao/#", 0))
	p := connected(t, addr, packet.V5, "tao-pub")
	for _, topic := range []string{"tao/a", "tao/a", "tao/b"} {
		p.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte(topic)})
	}
	got := s.sync()
	if len(got) != 3 {
		t.Fatalf("got %v, want 3", got)
	}
	a1, a2, b := got[0].(*packet.Publish), got[1].(*packet.Publish), got[2].(*packet.Publish)
	if a1.Topic != "tao/a" || a1.Props.TopicAlias != 1 {
		t.Errorf("first = topic %q alias %d, want tao/a with alias 1", a1.Topic, a1.Props.TopicAlias)
	}
	if a2.Topic != "" || a2.Props.TopicAlias != 1 {
		t.Errorf("second = topic %q alias %d, want empty topic with alias 1", a2.Topic, a2.Props.TopicAlias)
	}
	if b.Topic != "tao/b" || b.Props.Has(packet.PropTopicAlias) {
		t.Errorf("third = topic %q alias %d, want tao/b without alias (maximum 1 used)", b.Topic, b.Props.TopicAlias)
	}
	// A client that does not accept aliases gets none.
	n := connected(t, addr, packet.V5, "tao-none")
	n.subscribe(1, sub("tao/#", 0))
	p.publish(&packet.Publish{Topic: "tao/a", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if pub := recvAs[*packet.Publish](n); pub.Props.Has(packet.PropTopicAlias) {
		t.Errorf("alias %d sent to a client with Topic Alias Maximum 0", pub.Props.TopicAlias)
	}
}

func TestReceiveMaximumInbound(t *testing.T) {
	addr, _ := startServer(t, Options{MaxInflightMessages: 2})
	c := connected(t, addr, packet.V5, "rmi")
	for id := uint16(1); id <= 2; id++ {
		c.send(&packet.Publish{Topic: "rmi", QoS: 2, PacketID: id, Payload: []byte("x")})
		recvAs[*packet.Pubrec](c)
	}
	c.send(&packet.Publish{Topic: "rmi", QoS: 2, PacketID: 3, Payload: []byte("x")})
	got := c.closed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.ReceiveMaximumExceeded {
		t.Errorf("got %v, want DISCONNECT 0x93", got)
	}
}

func TestMaximumPacketSize(t *testing.T) {
	t.Run("inbound", func(t *testing.T) {
		addr, _ := startServer(t, Options{MaxPacketSize: 100})
		c := connected(t, addr, packet.V5, "mps-in")
		c.send(&packet.Publish{Topic: "mps", Payload: make([]byte, 200)})
		got := c.closed()
		if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.PacketTooLarge {
			t.Errorf("got %v, want DISCONNECT 0x95", got)
		}
	})
	t.Run("outbound", func(t *testing.T) {
		addr, _ := startServer(t, Options{})
		s := dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: "mps-out", CleanStart: true}
		cp.Props.SetUint(packet.PropMaximumPacketSize, 64)
		s.connect(cp)
		s.subscribe(1, sub("mps", 1))
		p := connected(t, addr, packet.V5, "mps-pub")
		p.publish(&packet.Publish{Topic: "mps", QoS: 1, PacketID: 1, Payload: make([]byte, 100)})
		p.publish(&packet.Publish{Topic: "mps", QoS: 1, PacketID: 1, Payload: []byte("small")})
		got := s.sync()
		if len(got) != 1 || string(got[0].(*packet.Publish).Payload) != "small" {
			t.Errorf("got %v, want only the small message", got)
		}
	})
}

func TestMessageExpiry(t *testing.T) {
	addr, srv := startServer(t, Options{})
	t.Run("remaining time forwarded", func(t *testing.T) {
		s := connected(t, addr, packet.V5, "mx-sub")
		s.subscribe(1, sub("mx", 1))
		p := connected(t, addr, packet.V5, "mx-pub")
		pub := &packet.Publish{Topic: "mx", QoS: 1, PacketID: 1, Payload: []byte("x")}
		pub.Props.SetUint(packet.PropMessageExpiry, 60)
		p.publish(pub)
		got := recvAs[*packet.Publish](s)
		if !got.Props.Has(packet.PropMessageExpiry) || got.Props.MessageExpiry > 60 || got.Props.MessageExpiry < 58 {
			t.Errorf("Message Expiry Interval = %d (present %v), want about 60", got.Props.MessageExpiry, got.Props.Has(packet.PropMessageExpiry))
		}
	})
	t.Run("expired dropped from queue", func(t *testing.T) {
		c, _ := persistent(t, addr, packet.V5, "mx-off")
		c.subscribe(1, sub("mx/off", 1))
		c.send(&packet.Disconnect{})
		c.closed()
		p := connected(t, addr, packet.V5, "mx-pub2")
		pub := &packet.Publish{Topic: "mx/off", QoS: 1, PacketID: 1, Payload: []byte("old")}
		pub.Props.SetUint(packet.PropMessageExpiry, 1)
		p.publish(pub)
		p.publish(&packet.Publish{Topic: "mx/off", QoS: 1, PacketID: 1, Payload: []byte("new")})
		// Age the queued message instead of sleeping.
		srv.mu.Lock()
		ss := srv.sessions["mx-off"]
		srv.mu.Unlock()
		ss.mu.Lock()
		for _, sm := range ss.queue {
			if string(sm.Msg.Payload) == "old" {
				sm.Msg.Expires = sm.Msg.Expires.Add(-2e9)
			}
		}
		ss.mu.Unlock()
		c, _ = persistent(t, addr, packet.V5, "mx-off")
		got := c.sync()
		if len(got) != 1 || string(got[0].(*packet.Publish).Payload) != "new" {
			t.Errorf("got %v, want only the unexpired message", got)
		}
	})
}

func TestPropertiesForwarded(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V5, "pf-sub")
	s.subscribe(1, sub("pf", 1))
	p := connected(t, addr, packet.V5, "pf-pub")
	pub := &packet.Publish{Topic: "pf", QoS: 1, PacketID: 1, Payload: []byte("{}")}
	pr := &pub.Props
	pr.SetUint(packet.PropPayloadFormat, 1)
	pr.SetString(packet.PropContentType, "application/json")
	pr.SetString(packet.PropResponseTopic, "pf/reply")
	pr.SetString(packet.PropCorrelationData, "\x00\x01corr")
	pr.User = []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: ""}}
	p.publish(pub)
	got := recvAs[*packet.Publish](s).Props
	if got.PayloadFormat != 1 || !got.Has(packet.PropPayloadFormat) {
		t.Errorf("payload format %d, want 1", got.PayloadFormat)
	}
	if got.ContentType != "application/json" || got.ResponseTopic != "pf/reply" || !bytes.Equal(got.CorrelationData, []byte("\x00\x01corr")) {
		t.Errorf("content type %q response topic %q correlation %q, want them unchanged", got.ContentType, got.ResponseTopic, got.CorrelationData)
	}
	if !slices.Equal(got.User, pr.User) {
		t.Errorf("user properties %v, want %v in order", got.User, pr.User)
	}
}

func TestSubscriptionIdentifier(t *testing.T) {
	addr, _ := startServer(t, Options{})
	s := connected(t, addr, packet.V5, "sid")
	sp := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub("sid/+", 1)}}
	sp.Props.SetUint(packet.PropSubscriptionID, 42)
	s.send(sp)
	recvAs[*packet.Suback](s)
	p := connected(t, addr, packet.V5, "sid-pub")
	p.publish(&packet.Publish{Topic: "sid/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if got := recvAs[*packet.Publish](s); !slices.Equal(got.Props.SubscriptionIDs, []uint32{42}) {
		t.Errorf("subscription identifiers %v, want [42]", got.Props.SubscriptionIDs)
	}
}

func TestNoMatchingSubscribers(t *testing.T) {
	addr, _ := startServer(t, Options{})
	p := connected(t, addr, packet.V5, "nms")
	p.send(&packet.Publish{Topic: "nobody/here", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if ack := recvAs[*packet.Puback](p); ack.ReasonCode != packet.NoMatchingSubscribers {
		t.Errorf("PUBACK reason %v, want 0x10 no matching subscribers", ack.ReasonCode)
	}
}

func TestMaximumQoS(t *testing.T) {
	one := packet.AtLeastOnce
	addr, _ := startServer(t, Options{MaxQoS: &one})
	c := dial(t, addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "mq", CleanStart: true})
	if !ack.Props.Has(packet.PropMaximumQoS) || ack.Props.MaximumQoS != 1 {
		t.Errorf("CONNACK Maximum QoS %d (present %v), want 1", ack.Props.MaximumQoS, ack.Props.Has(packet.PropMaximumQoS))
	}
	if sa := c.subscribe(1, sub("mq", 2)); sa.ReasonCodes[0] != packet.GrantedQoS1 {
		t.Errorf("SUBACK %v, want granted QoS 1", sa.ReasonCodes)
	}
	c.send(&packet.Publish{Topic: "mq", QoS: 2, PacketID: 1, Payload: []byte("x")})
	got := c.closed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.QoSNotSupported {
		t.Errorf("after a QoS 2 PUBLISH got %v, want DISCONNECT 0x9B", got)
	}
	w := dial(t, addr, packet.V5)
	cp := willConnect("mq-will", packet.V5, 0)
	cp.Will.QoS = 2
	if ack := w.connect(cp); ack.ReasonCode != packet.QoSNotSupported {
		t.Errorf("CONNACK for a QoS 2 will = %v, want 0x9B", ack.ReasonCode)
	}
}
