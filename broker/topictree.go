package broker

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqtool/mqtool/packet"
)

// topicTree indexes subscriptions by topic level. Each node has its literal
// children in a map and separate slots for the '+' and '#' wildcards, so a
// match walks at most three branches per level.
type topicTree struct {
	mu     sync.RWMutex
	root   node
	count  int // subscriptions, shared ones included
	shares int // shared subscriptions
}

type node struct {
	children map[string]*node
	plus     *node
	hash     *node
	subs     map[*session]Subscription
	shared   map[string]*shareGroup
}

// shareGroup is the members of one $share/{group}/{filter}; next picks
// the member for round-robin delivery.
type shareGroup struct {
	members []shareMember
	next    atomic.Uint32
}

type shareMember struct {
	sess *session
	sub  Subscription
}

// match is one subscription that matched a topic.
type match struct {
	sess   *session
	sub    Subscription
	shared bool
}

func (n *node) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && len(n.subs) == 0 && len(n.shared) == 0
}

// add inserts or replaces sess's subscription; it reports whether one with
// the same filter existed.
func (t *topicTree) add(sess *session, sub Subscription) bool {
	filter, group := sub.Filter, ""
	if packet.IsShared(filter) {
		g, f, err := packet.ParseShared(filter)
		if err != nil {
			return false
		}
		group, filter = g, f
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		var next **node
		switch level {
		case "+":
			next = &n.plus
		case "#":
			next = &n.hash
		default:
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c := n.children[level]
			if c == nil {
				c = &node{}
				n.children[level] = c
			}
			n = c
			continue
		}
		if *next == nil {
			*next = &node{}
		}
		n = *next
	}
	if group == "" {
		if n.subs == nil {
			n.subs = map[*session]Subscription{}
		}
		_, existed := n.subs[sess]
		n.subs[sess] = sub
		if !existed {
			t.count++
		}
		return existed
	}
	if n.shared == nil {
		n.shared = map[string]*shareGroup{}
	}
	g := n.shared[group]
	if g == nil {
		g = &shareGroup{}
		n.shared[group] = g
	}
	for i := range g.members {
		if g.members[i].sess == sess {
			g.members[i].sub = sub
			return true
		}
	}
	g.members = append(g.members, shareMember{sess, sub})
	t.count++
	t.shares++
	return false
}

// remove deletes sess's subscription to filter; it reports whether there
// was one. Empty nodes are pruned.
func (t *topicTree) remove(sess *session, filter string) bool {
	group := ""
	if packet.IsShared(filter) {
		g, f, err := packet.ParseShared(filter)
		if err != nil {
			return false
		}
		group, filter = g, f
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	levels := strings.Split(filter, "/")
	path := make([]*node, 0, len(levels)+1)
	n := &t.root
	path = append(path, n)
	for _, level := range levels {
		switch level {
		case "+":
			n = n.plus
		case "#":
			n = n.hash
		default:
			n = n.children[level]
		}
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	found := false
	if group == "" {
		if _, ok := n.subs[sess]; ok {
			delete(n.subs, sess)
			found = true
		}
	} else if g := n.shared[group]; g != nil {
		for i := range g.members {
			if g.members[i].sess == sess {
				g.members = append(g.members[:i], g.members[i+1:]...)
				found = true
				break
			}
		}
		if len(g.members) == 0 {
			delete(n.shared, group)
		}
	}
	if !found {
		return false
	}
	t.count--
	if group != "" {
		t.shares--
	}
	for i := len(levels) - 1; i >= 0; i-- {
		child, parent := path[i+1], path[i]
		if !child.empty() {
			break
		}
		switch levels[i] {
		case "+":
			parent.plus = nil
		case "#":
			parent.hash = nil
		default:
			delete(parent.children, levels[i])
		}
	}
	return true
}

// match appends to dst every subscription matching topic name; for each
// shared group it appends one member, chosen round-robin. Filters starting
// with a wildcard do not match names starting with '$' [MQTT-4.7.2-1].
func (t *topicTree) match(topic string, dst []match) []match {
	t.mu.RLock()
	defer t.mu.RUnlock()
	dollar := strings.HasPrefix(topic, "$")
	return t.root.match(topic, dollar, dst)
}

func (n *node) match(rest string, noWild bool, dst []match) []match {
	level, tail, more := strings.Cut(rest, "/")
	if !noWild {
		if n.hash != nil {
			dst = n.hash.collect(dst)
		}
		if n.plus != nil {
			if more {
				dst = n.plus.match(tail, false, dst)
			} else {
				dst = n.plus.leaf(dst)
			}
		}
	}
	if c := n.children[level]; c != nil {
		if more {
			dst = c.match(tail, false, dst)
		} else {
			dst = c.leaf(dst)
		}
	}
	return dst
}

// leaf collects a node reached by the last topic level: its own
// subscriptions and those of a "#" below it, since "a/#" matches "a"
// [MQTT-4.7.1-2].
func (n *node) leaf(dst []match) []match {
	dst = n.collect(dst)
	if n.hash != nil {
		dst = n.hash.collect(dst)
	}
	return dst
}

func (n *node) collect(dst []match) []match {
	for s, sub := range n.subs {
		dst = append(dst, match{sess: s, sub: sub})
	}
	for _, g := range n.shared {
		if len(g.members) == 0 {
			continue
		}
		i := int(g.next.Add(1)-1) % len(g.members)
		m := g.members[i]
		dst = append(dst, match{sess: m.sess, sub: m.sub, shared: true})
	}
	return dst
}

// len returns the number of subscriptions.
func (t *topicTree) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// sharedLen returns the number of shared subscriptions.
func (t *topicTree) sharedLen() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.shares
}
