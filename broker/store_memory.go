package broker

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/mqtool/mqtool/packet"
)

// MemoryStore is a Store that keeps everything in memory; its state ends
// with the process.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string]*memSession
	retained map[string]*Message
}

type memSession struct {
	info     SessionInfo
	subs     map[string]Subscription
	messages map[uint64]*StoredMessage
	inbound  map[uint16]struct{}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: map[string]*memSession{}, retained: map[string]*Message{}}
}

func (s *MemoryStore) session(id string) *memSession {
	ms := s.sessions[id]
	if ms == nil {
		ms = &memSession{info: SessionInfo{ClientID: id}}
		s.sessions[id] = ms
	}
	return ms
}

// PutSession implements Store.
func (s *MemoryStore) PutSession(info SessionInfo) error {
	s.mu.Lock()
	s.session(info.ClientID).info = info
	s.mu.Unlock()
	return nil
}

// DeleteSession implements Store.
func (s *MemoryStore) DeleteSession(clientID string) error {
	s.mu.Lock()
	delete(s.sessions, clientID)
	s.mu.Unlock()
	return nil
}

// Sessions implements Store.
func (s *MemoryStore) Sessions(fn func(info SessionInfo) bool) error {
	s.mu.Lock()
	infos := make([]SessionInfo, 0, len(s.sessions))
	for _, ms := range s.sessions {
		infos = append(infos, ms.info)
	}
	s.mu.Unlock()
	for _, info := range infos {
		if !fn(info) {
			break
		}
	}
	return nil
}

// PutSubscription implements Store.
func (s *MemoryStore) PutSubscription(clientID string, sub Subscription) error {
	s.mu.Lock()
	ms := s.session(clientID)
	if ms.subs == nil {
		ms.subs = map[string]Subscription{}
	}
	ms.subs[sub.Filter] = sub
	s.mu.Unlock()
	return nil
}

// DeleteSubscription implements Store.
func (s *MemoryStore) DeleteSubscription(clientID, filter string) error {
	s.mu.Lock()
	if ms := s.sessions[clientID]; ms != nil {
		delete(ms.subs, filter)
	}
	s.mu.Unlock()
	return nil
}

// Subscriptions implements Store.
func (s *MemoryStore) Subscriptions(clientID string) ([]Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.sessions[clientID]
	if ms == nil {
		return nil, nil
	}
	subs := make([]Subscription, 0, len(ms.subs))
	for _, sub := range ms.subs {
		subs = append(subs, sub)
	}
	slices.SortFunc(subs, func(a, b Subscription) int {
		if a.Filter < b.Filter {
			return -1
		}
		if a.Filter > b.Filter {
			return 1
		}
		return 0
	})
	return subs, nil
}

// PutMessage implements Store.
func (s *MemoryStore) PutMessage(clientID string, m *StoredMessage) error {
	s.mu.Lock()
	ms := s.session(clientID)
	if ms.messages == nil {
		ms.messages = map[uint64]*StoredMessage{}
	}
	ms.messages[m.Seq] = m
	s.mu.Unlock()
	return nil
}

// DeleteMessage implements Store.
func (s *MemoryStore) DeleteMessage(clientID string, seq uint64) error {
	s.mu.Lock()
	if ms := s.sessions[clientID]; ms != nil {
		delete(ms.messages, seq)
	}
	s.mu.Unlock()
	return nil
}

// Messages implements Store.
func (s *MemoryStore) Messages(clientID string) ([]*StoredMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.sessions[clientID]
	if ms == nil {
		return nil, nil
	}
	out := make([]*StoredMessage, 0, len(ms.messages))
	for _, m := range ms.messages {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *StoredMessage) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, nil
}

// PutInbound implements Store.
func (s *MemoryStore) PutInbound(clientID string, id uint16) error {
	s.mu.Lock()
	ms := s.session(clientID)
	if ms.inbound == nil {
		ms.inbound = map[uint16]struct{}{}
	}
	ms.inbound[id] = struct{}{}
	s.mu.Unlock()
	return nil
}

// DeleteInbound implements Store.
func (s *MemoryStore) DeleteInbound(clientID string, id uint16) error {
	s.mu.Lock()
	if ms := s.sessions[clientID]; ms != nil {
		delete(ms.inbound, id)
	}
	s.mu.Unlock()
	return nil
}

// Inbound implements Store.
func (s *MemoryStore) Inbound(clientID string) ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.sessions[clientID]
	if ms == nil {
		return nil, nil
	}
	ids := make([]uint16, 0, len(ms.inbound))
	for id := range ms.inbound {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// SetRetained implements Store.
func (s *MemoryStore) SetRetained(m *Message) error {
	s.mu.Lock()
	if len(m.Payload) == 0 {
		delete(s.retained, m.Topic)
	} else {
		s.retained[m.Topic] = m
	}
	s.mu.Unlock()
	return nil
}

// Retained implements Store.
func (s *MemoryStore) Retained(filter string, fn func(m *Message) bool) error {
	s.mu.Lock()
	if !strings.ContainsAny(filter, "+#") {
		m := s.retained[filter]
		s.mu.Unlock()
		if m != nil {
			fn(m)
		}
		return nil
	}
	var found []*Message
	for topic, m := range s.retained {
		if packet.Match(filter, topic) {
			found = append(found, m)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(found, func(a, b *Message) int {
		switch {
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	for _, m := range found {
		if !fn(m) {
			break
		}
	}
	return nil
}

// EachRetained implements Store.
func (s *MemoryStore) EachRetained(fn func(m *Message) bool) error {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.retained))
	s.mu.Unlock()
	for _, m := range all {
		if !fn(m) {
			break
		}
	}
	return nil
}

// RetainedCount implements Store.
func (s *MemoryStore) RetainedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.retained)
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }
