package packet

import (
	"fmt"
	"strings"
)

// ValidTopicName checks a topic name a PUBLISH or will may carry: not empty,
// no wildcards [MQTT-3.3.2-2] [MQTT-4.7.3-1], at most 65,535 bytes, valid
// UTF-8. Failures wrap TopicNameInvalid.
func ValidTopicName(name string) error { return validTopicName(name, true) }

// validTopicName is ValidTopicName; the decoder passes utf8 false for a
// name it has already checked.
func validTopicName(name string, utf8 bool) error {
	if name == "" {
		return fmt.Errorf("topic name empty: %w", TopicNameInvalid)
	}
	if len(name) > 0xFFFF {
		return fmt.Errorf("topic name of %d bytes too long: %w", len(name), TopicNameInvalid)
	}
	if i := indexWildcard(name); i >= 0 {
		return fmt.Errorf("topic name %q has wildcard %q: %w", name, name[i], TopicNameInvalid)
	}
	if !utf8 {
		return nil
	}
	if err := checkUTF8String(name); err != nil {
		return fmt.Errorf("topic name: %w", TopicNameInvalid)
	}
	return nil
}

// ValidTopicFilter checks a topic filter: not empty, '+' and '#' each a
// whole level, '#' last [MQTT-4.7.1-1] [MQTT-4.7.1-2]; a shared
// subscription "$share/{group}/{filter}" needs a group without wildcards
// and a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]. Failures wrap TopicFilterInvalid.
func ValidTopicFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("topic filter empty: %w", TopicFilterInvalid)
	}
	if len(filter) > 0xFFFF {
		return fmt.Errorf("topic filter of %d bytes too long: %w", len(filter), TopicFilterInvalid)
	}
	if err := checkUTF8String(filter); err != nil {
		return fmt.Errorf("topic filter: %w", TopicFilterInvalid)
	}
	if IsShared(filter) {
		_, f, err := ParseShared(filter)
		if err != nil {
			return err
		}
		filter = f
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i+1 < len(filter) && filter[i+1] != '/') {
				return fmt.Errorf("topic filter %q: '+' must occupy a whole level: %w", filter, TopicFilterInvalid)
			}
		case '#':
			if (i > 0 && filter[i-1] != '/') || i != len(filter)-1 {
				return fmt.Errorf("topic filter %q: '#' must be the last, whole level: %w", filter, TopicFilterInvalid)
			}
		}
	}
	return nil
}

const sharePrefix = "$share/"

// IsShared reports whether filter names a shared subscription.
func IsShared(filter string) bool { return strings.HasPrefix(filter, sharePrefix) }

// ParseShared splits "$share/{group}/{filter}" into its share name and
// filter [MQTT-4.8.2].
func ParseShared(filter string) (group, topicFilter string, err error) {
	if !IsShared(filter) {
		return "", "", fmt.Errorf("%q is not a shared subscription: %w", filter, TopicFilterInvalid)
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "", "", fmt.Errorf("shared subscription %q needs a share name and a filter: %w", filter, TopicFilterInvalid)
	}
	group, topicFilter = rest[:i], rest[i+1:]
	if strings.ContainsAny(group, "+#") {
		return "", "", fmt.Errorf("share name %q has a wildcard: %w", group, TopicFilterInvalid)
	}
	if topicFilter == "" {
		return "", "", fmt.Errorf("shared subscription %q has an empty filter: %w", filter, TopicFilterInvalid)
	}
	return group, topicFilter, nil
}

// Match reports whether topic name matches filter. Filters that start with a
// wildcard do not match names that start with '$' [MQTT-4.7.2-1]. Shared
// subscriptions are matched by their filter part.
func Match(filter, name string) bool {
	if IsShared(filter) {
		_, f, err := ParseShared(filter)
		if err != nil {
			return false
		}
		filter = f
	}
	if len(name) > 0 && name[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore && !nmore:
			return true
		case !nmore:
			// "a/#" matches "a" [MQTT-4.7.1-2].
			return frest == "#"
		case !fmore:
			return false
		}
		filter, name = frest, nrest
	}
}

// indexWildcard returns the index of the first '+' or '#' in s, or -1.
func indexWildcard(s string) int {
	i := strings.IndexByte(s, '+')
	j := strings.IndexByte(s, '#')
	if i < 0 || (j >= 0 && j < i) {
		return j
	}
	return i
}
