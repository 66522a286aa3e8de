package broker

import (
	"fmt"
	"time"

	"github.com/mqtool/mqtool/packet"
)

// Options configures a Server. The zero value of a field means the default
// noted beside it; limits use mosquitto's names and defaults.
type Options struct {
	MaxInflightMessages int           // outbound QoS 1/2 in flight per client; default 20, <0 unlimited
	MaxQueuedMessages   int           // queued per client beyond inflight; default 1000, <0 unlimited
	MaxQueuedBytes      int           // queued payload bytes per client; default 0 = no limit
	MaxPacketSize       int           // largest packet accepted and announced; default 0 = protocol maximum
	MaxKeepalive        int           // largest keep alive granted, seconds; default 65535
	MaxTopicAlias       int           // inbound topic aliases per v5 client; default 10, <0 none
	MaxQoS              *packet.QoS   // highest QoS accepted and granted (mosquitto max_qos); nil: 2
	SysInterval         time.Duration // $SYS update period; default 10 s, <0 disables $SYS
	ConnectTimeout      time.Duration // time allowed for a complete CONNECT; default 10 s
	Version             string        // reported in $SYS/broker/version
	Store               Store         // default NewMemoryStore()
	Auth                Authenticator // default AllowAll
	Log                 func(level LogLevel, msg string)
	LogLevel            LogLevel // highest level passed to Log; default LogNotice
}

// LogLevel orders log messages by importance.
type LogLevel int

// Log levels, most important first.
const (
	LogError LogLevel = iota
	LogWarning
	LogNotice
	LogInfo // connects, disconnects, subscribes (mosquitto -v)
	LogDebug
)

// String returns the level's lower-case name.
func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarning:
		return "warning"
	case LogNotice:
		return "notice"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return fmt.Sprintf("LogLevel(%d)", int(l))
}

// preConnectMax bounds a CONNECT before the client is authenticated, like
// mosquitto's 100,000-byte limit.
const preConnectMax = 256 << 10

func (o Options) withDefaults() Options {
	if o.MaxInflightMessages == 0 {
		o.MaxInflightMessages = 20
	}
	if o.MaxQueuedMessages == 0 {
		o.MaxQueuedMessages = 1000
	}
	if o.MaxKeepalive <= 0 || o.MaxKeepalive > 65535 {
		o.MaxKeepalive = 65535
	}
	if o.MaxTopicAlias == 0 {
		o.MaxTopicAlias = 10
	}
	if o.MaxTopicAlias > 65535 {
		o.MaxTopicAlias = 65535
	}
	if o.SysInterval == 0 {
		o.SysInterval = 10 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Store == nil {
		o.Store = NewMemoryStore()
	}
	if o.Auth == nil {
		o.Auth = AllowAll{}
	}
	return o
}

// maxQoS returns the highest QoS the server supports.
func (o *Options) maxQoS() packet.QoS {
	if o.MaxQoS == nil || *o.MaxQoS > packet.ExactlyOnce {
		return packet.ExactlyOnce
	}
	return *o.MaxQoS
}

// receiveMaximum is the inbound QoS 2 window announced to v5 clients.
func (o *Options) receiveMaximum() int {
	if o.MaxInflightMessages < 0 || o.MaxInflightMessages > 65535 {
		return 65535
	}
	return o.MaxInflightMessages
}
