package packet

import (
	"errors"
	"strings"
	"testing"
)

func TestValidTopicName(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		ok    bool
	}{
		{"simple", "sport/tennis/player1", true},
		{"single level", "a", true},
		{"leading slash", "/finance", true},
		{"trailing slash", "finance/", true},
		{"only slash", "/", true},
		{"empty levels", "a//b", true},
		{"space", " ", true},
		{"dollar", "$SYS/broker/load", true},
		{"non-ASCII", "température/°C", true},
		{"max length", strings.Repeat("x", 65535), true},
		{"empty", "", false},
		{"plus", "sport/+/player1", false},
		{"hash", "sport/#", false},
		{"plus in level", "sport+", false},
		{"hash alone", "#", false},
		{"NUL", "a\x00b", false},
		{"ill-formed UTF-8", "a\xff", false},
		{"surrogate", "\xed\xa0\x80", false},
		{"too long", strings.Repeat("x", 65536), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidTopicName(tt.topic)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidTopicName(%.40q) = %v, want ok=%v", tt.topic, err, tt.ok)
			}
			if err != nil && !errors.Is(err, TopicNameInvalid) {
				t.Errorf("ValidTopicName(%.40q) error %v does not wrap %v", tt.topic, err, TopicNameInvalid)
			}
		})
	}
}

func TestValidTopicFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		ok     bool
	}{
		{"hash", "#", true},
		{"plus", "+", true},
		{"spec sport/tennis/player1/#", "sport/tennis/player1/#", true},
		{"spec sport/#", "sport/#", true},
		{"spec +/tennis/#", "+/tennis/#", true},
		{"spec sport/+/player1", "sport/+/player1", true},
		{"plus plus", "+/+", true},
		{"slash plus", "/+", true},
		{"plus at end", "a/+", true},
		{"empty levels", "a//b", true},
		{"only slash", "/", true},
		{"$SYS", "$SYS/#", true},
		{"shared", "$share/group/a/+/c", true},
		{"shared hash", "$share/g/#", true},
		{"sharex is not shared", "$sharex/a", true},
		{"empty", "", false},
		{"spec sport/tennis#", "sport/tennis#", false},
		{"spec sport/tennis/#/ranking", "sport/tennis/#/ranking", false},
		{"spec sport+", "sport+", false},
		{"plus prefix", "+a", false},
		{"plus in middle", "a/b+c/d", false},
		{"hash prefix", "#/a", false},
		{"double hash", "##", false},
		{"NUL", "a/\x00", false},
		{"ill-formed UTF-8", "\xc3\x28", false},
		{"too long", strings.Repeat("x", 65536), false},
		{"shared without filter", "$share/g/", false},
		{"shared without group", "$share//a", false},
		{"shared without slash", "$share/g", false},
		{"shared wildcard group", "$share/+/a", false},
		{"shared group with hash", "$share/g#/a", false},
		{"shared invalid filter", "$share/g/a#", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidTopicFilter(tt.filter)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidTopicFilter(%.40q) = %v, want ok=%v", tt.filter, err, tt.ok)
			}
			if err != nil && !errors.Is(err, TopicFilterInvalid) {
				t.Errorf("ValidTopicFilter(%.40q) error %v does not wrap %v", tt.filter, err, TopicFilterInvalid)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, name string
		want         bool
	}{
		// MQTT 5.0 section 4.7.1.2 and 4.7.1.3.
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/tennis/player1/#", "sport/tennis/player2", false},
		{"sport/#", "sport", true},
		{"sport/#", "sports", false},
		{"#", "sport/tennis", true},
		{"#", "/finance", true},
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player2", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/tennis/+", "sport/tennis", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"+", "finance", true},
		{"+/tennis/#", "sport/tennis/player1", true},
		{"sport/+/player1", "sport/tennis/player1", true},
		{"sport/+/player1", "sport//player1", true},
		// Case and leading slash are significant (4.7.3).
		{"ACCOUNTS", "Accounts", false},
		{"finance", "/finance", false},
		{"/finance", "finance", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		// Topics beginning with $ [MQTT-4.7.2-1] (4.7.2).
		{"#", "$SYS/monitor/Clients", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"+", "$SYS", false},
		{"$SYS/#", "$SYS/monitor/Clients", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients/x", false},
		{"a/#", "a/$b", true},
		{"+/b", "a$/b", true},
		// Shared subscriptions match by their filter part.
		{"$share/g/sport/#", "sport/tennis", true},
		{"$share/g/sport/#", "other", false},
		{"$share/g/#", "$SYS/x", false},
		{"$share/g/", "x", false},
	}
	for _, tt := range tests {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in            string
		group, filter string
		ok            bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/consumers/#", "consumers", "#", true},
		{"$share/g/+/x", "g", "+/x", true},
		{"$share/g//", "g", "/", true},
		{"$share/g/", "", "", false},
		{"$share//a", "", "", false},
		{"$share/g", "", "", false},
		{"$share/", "", "", false},
		{"$share/g+/a", "", "", false},
		{"$share/#/a", "", "", false},
		{"a/b", "", "", false},
		{"$SHARE/g/a", "", "", false},
	}
	for _, tt := range tests {
		group, filter, err := ParseShared(tt.in)
		if (err == nil) != tt.ok || group != tt.group || filter != tt.filter {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, group, filter, err, tt.group, tt.filter, tt.ok)
		}
		if err != nil && !errors.Is(err, TopicFilterInvalid) {
			t.Errorf("ParseShared(%q) error %v does not wrap %v", tt.in, err, TopicFilterInvalid)
		}
		if IsShared(tt.in) != strings.HasPrefix(tt.in, "$share/") {
			t.Errorf("IsShared(%q) = %v", tt.in, IsShared(tt.in))
		}
	}
}
