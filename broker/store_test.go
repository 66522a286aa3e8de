package broker

import (
	"slices"
	"testing"
)

func TestMemoryStoreRetained(t *testing.T) {
	st := NewMemoryStore()
	for _, topic := range []string{"a/b", "a/c", "a", "$SYS/x", "b"} {
		st.SetRetained(&Message{Topic: topic, Payload: []byte(topic), Retain: true})
	}
	st.SetRetained(&Message{Topic: "b"}) // empty payload deletes
	tests := []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a/b"}},
		{"a/+", []string{"a/b", "a/c"}},
		{"a/#", []string{"a", "a/b", "a/c"}},
		{"#", []string{"a", "a/b", "a/c"}},
		{"$SYS/#", []string{"$SYS/x"}},
		{"b", nil},
		{"nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var got []string
			st.Retained(tt.filter, func(m *Message) bool {
				got = append(got, m.Topic)
				return true
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("Retained(%q) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
	if n := st.RetainedCount(); n != 4 {
		t.Errorf("RetainedCount() = %d, want 4", n)
	}
}

func TestMemoryStoreSessions(t *testing.T) {
	st := NewMemoryStore()
	st.PutSession(SessionInfo{ClientID: "c", Expiry: 60})
	st.PutSubscription("c", Subscription{Filter: "b"})
	st.PutSubscription("c", Subscription{Filter: "a", QoS: 1})
	st.PutMessage("c", &StoredMessage{Seq: 2, Msg: &Message{Topic: "y"}})
	st.PutMessage("c", &StoredMessage{Seq: 1, Msg: &Message{Topic: "x"}})
	st.PutInbound("c", 7)
	subs, _ := st.Subscriptions("c")
	if len(subs) != 2 || subs[0].Filter != "a" || subs[1].Filter != "b" {
		t.Errorf("Subscriptions = %+v, want a then b", subs)
	}
	msgs, _ := st.Messages("c")
	if len(msgs) != 2 || msgs[0].Seq != 1 || msgs[1].Seq != 2 {
		t.Errorf("Messages not in Seq order: %+v", msgs)
	}
	if ids, _ := st.Inbound("c"); !slices.Equal(ids, []uint16{7}) {
		t.Errorf("Inbound = %v, want [7]", ids)
	}
	st.DeleteSession("c")
	n := 0
	st.Sessions(func(SessionInfo) bool { n++; return true })
	if subs, _ := st.Subscriptions("c"); n != 0 || len(subs) != 0 {
		t.Errorf("after DeleteSession: %d sessions, %d subscriptions, want none", n, len(subs))
	}
}
