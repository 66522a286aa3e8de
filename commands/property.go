package commands

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mqtool/mqtool/packet"
)

// propSep joins the words of one -D occurrence after Main has gathered
// them: -D takes three or four arguments, which the flag parser cannot.
const propSep = "\x00"

// propertySet holds the MQTT 5 properties given with -D, one list per
// packet kind mosquitto accepts.
type propertySet struct {
	Connect     packet.Properties
	Publish     packet.Properties
	Subscribe   packet.Properties
	Unsubscribe packet.Properties
	Disconnect  packet.Properties
	Will        packet.Properties
	// TopicAlias is set when "-D publish topic-alias N" was given.
	TopicAlias bool
}

// propCommands maps mosquitto's -D command names to packet types; "will"
// stands for the will properties of CONNECT.
var propCommands = map[string]packet.Type{
	"connect": packet.CONNECT, "connack": packet.CONNACK, "publish": packet.PUBLISH,
	"puback": packet.PUBACK, "pubrec": packet.PUBREC, "pubrel": packet.PUBREL,
	"pubcomp": packet.PUBCOMP, "subscribe": packet.SUBSCRIBE, "suback": packet.SUBACK,
	"unsubscribe": packet.UNSUBSCRIBE, "unsuback": packet.UNSUBACK,
	"disconnect": packet.DISCONNECT, "auth": packet.AUTH, "will": 0,
}

// parseProperties parses -D values (words joined by propSep) with
// mosquitto's checks and messages.
func parseProperties(specs []string) (*propertySet, error) {
	ps := &propertySet{}
	for _, spec := range specs {
		if err := ps.add(strings.Split(spec, propSep)); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func (ps *propertySet) add(words []string) error {
	if len(words) < 3 {
		return fmt.Errorf("--property argument given but not enough arguments specified.")
	}
	cmdName, propName := words[0], words[1]
	t, ok := propCommands[strings.ToLower(cmdName)]
	if !ok {
		return fmt.Errorf("Invalid command %s given in --property argument.", cmdName)
	}
	id, ok := packet.PropByName(strings.ToLower(propName))
	if !ok {
		return fmt.Errorf("Invalid property name %s given in --property argument.", propName)
	}
	isWill := strings.EqualFold(cmdName, "will")
	if (isWill && !id.AllowedOnWill()) || (!isWill && !id.AllowedOn(t)) {
		return fmt.Errorf("%s property not allowed for %s in --property argument.", propName, cmdName)
	}
	var props *packet.Properties
	switch {
	case isWill:
		props = &ps.Will
	case t == packet.CONNECT:
		props = &ps.Connect
	case t == packet.PUBLISH:
		if id == packet.PropSubscriptionID {
			return fmt.Errorf("%s property not supported for %s in --property argument.", propName, cmdName)
		}
		if id == packet.PropTopicAlias {
			ps.TopicAlias = true
		}
		props = &ps.Publish
	case t == packet.SUBSCRIBE:
		props = &ps.Subscribe
	case t == packet.UNSUBSCRIBE:
		props = &ps.Unsubscribe
	case t == packet.DISCONNECT:
		props = &ps.Disconnect
	default:
		return fmt.Errorf("%s property not supported for %s in --property argument.", propName, cmdName)
	}
	if id == packet.PropUser {
		if len(words) < 4 {
			return fmt.Errorf("--property argument given but not enough arguments specified.")
		}
		if len(words) > 4 {
			return fmt.Errorf("--property argument given with too many arguments.")
		}
		props.User = append(props.User, packet.UserProperty{Key: words[2], Value: words[3]})
		return nil
	}
	if len(words) > 3 {
		return fmt.Errorf("--property argument given with too many arguments.")
	}
	value := words[2]
	switch id.Kind() {
	case "string":
		if err := packet.CheckUTF8(value); err != nil {
			return fmt.Errorf("Malformed UTF-8 in property value for %s.", propName)
		}
		return props.SetString(id, value)
	case "binary":
		if len(value) > 65535 {
			return fmt.Errorf("Property value too long for property %s.", propName)
		}
		return props.SetString(id, value)
	}
	n, err := strconv.ParseInt(value, 0, 64)
	if err != nil {
		return fmt.Errorf("Property value '%s' not a number.", value)
	}
	// A topic alias of 0 is not permitted [MQTT-3.3.2-8].
	if n < 0 || (n == 0 && id == packet.PropTopicAlias) || props.SetUint(id, uint64(n)) != nil {
		return fmt.Errorf("Property value (%d) out of range for property %s.", n, propName)
	}
	return nil
}

// joinPropertyArgs rewrites each "-D cmd name value" (four words for
// user-property) in args into one "--property=cmd\x00name\x00value"
// argument, so that the flag parser sees a single value. valueFlags names
// the flags (without dashes) that take a value, so that their values are
// skipped. Arguments after "--" are left alone.
func joinPropertyArgs(args []string, valueFlags map[string]bool) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, hasValue := flagName(a)
		if name == "" {
			out = append(out, a)
			continue
		}
		if name == "D" || name == "property" {
			if hasValue {
				out = append(out, a)
				continue
			}
			n := 3
			if i+2 < len(args) && strings.EqualFold(args[i+2], "user-property") {
				n = 4
			}
			end := min(i+1+n, len(args))
			// Too few words are left for parseProperties to report.
			out = append(out, "--property="+strings.Join(args[i+1:end], propSep))
			i = end - 1
			continue
		}
		out = append(out, a)
		if valueFlags[name] && !hasValue && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

// flagName returns the name of the flag in argument a ("-t", "--topic",
// "--topic=x"), and whether the value is attached with "=".
func flagName(a string) (name string, hasValue bool) {
	if len(a) < 2 || a[0] != '-' || a == "-" {
		return "", false
	}
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if k := strings.IndexByte(name, '='); k >= 0 {
		return name[:k], true
	}
	return name, false
}
