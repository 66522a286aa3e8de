package packet

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type roundTripCase struct {
	name string
	p    Packet
}

// roundTripCases returns one packet of every type that exists at v, as Read
// at v must return it: every field that v can carry, and nothing it cannot.
func roundTripCases(v Version) []roundTripCase {
	cs := []roundTripCase{
		{"CONNECT minimal", &Connect{ProtocolName: v.ProtocolName(), Version: v, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
		{"CONNECT empty client id", &Connect{ProtocolName: v.ProtocolName(), Version: v, CleanStart: true}},
		{"CONNECT will user password", &Connect{
			ProtocolName: v.ProtocolName(), Version: v, KeepAlive: 10, ClientID: "client-ü",
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte{0, 1, 0xFF},
			Will: &Will{Topic: "last/will", Payload: []byte("gone"), QoS: ExactlyOnce, Retain: true},
		}},
		{"CONNECT will QoS 1 empty payload", &Connect{
			ProtocolName: v.ProtocolName(), Version: v, ClientID: "w",
			Will: &Will{Topic: "w/t", QoS: AtLeastOnce},
		}},
		{"CONNECT user name without password", &Connect{ProtocolName: v.ProtocolName(), Version: v, ClientID: "u", UsernameFlag: true, Username: "only"}},
		{"CONNECT empty user name", &Connect{ProtocolName: v.ProtocolName(), Version: v, ClientID: "u", UsernameFlag: true}},
		{"CONNACK accepted", &Connack{SessionPresent: v != V31, ReasonCode: Success}},
		{"CONNACK not authorized", &Connack{ReasonCode: NotAuthorized}},
		{"CONNACK bad credentials", &Connack{ReasonCode: BadUserNameOrPassword}},
		{"PUBLISH QoS 0", &Publish{Topic: "a/b", Payload: []byte("hello")}},
		{"PUBLISH QoS 0 retain empty payload", &Publish{Topic: "a/b", Retain: true}},
		{"PUBLISH QoS 1", &Publish{QoS: AtLeastOnce, Topic: "a/b", PacketID: 1, Payload: []byte{0, 0xFF}}},
		{"PUBLISH QoS 2 dup", &Publish{Dup: true, QoS: ExactlyOnce, Topic: "x", PacketID: 0xFFFF, Payload: bytes.Repeat([]byte{7}, 300)}},
		{"PUBLISH $SYS topic", &Publish{Topic: "$SYS/broker/uptime", Payload: []byte("1 seconds")}},
		{"PUBACK", &Puback{PacketID: 7}},
		{"PUBREC", &Pubrec{PacketID: 8}},
		{"PUBREL", &Pubrel{PacketID: 9}},
		{"PUBCOMP", &Pubcomp{PacketID: 10}},
		{"SUBSCRIBE one", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/+/c", QoS: AtLeastOnce}}}},
		{"SUBSCRIBE many", &Subscribe{PacketID: 2, Subscriptions: []Subscription{
			{Filter: "#"}, {Filter: "a/b", QoS: ExactlyOnce}, {Filter: "$share/g/x/#", QoS: AtLeastOnce},
		}}},
		{"SUBACK", &Suback{PacketID: 2, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
		{"UNSUBSCRIBE", &Unsubscribe{PacketID: 3, Filters: []string{"a/b", "c/#"}}},
		{"UNSUBACK", &Unsuback{PacketID: 3}},
		{"PINGREQ", &Pingreq{}},
		{"PINGRESP", &Pingresp{}},
		{"DISCONNECT", &Disconnect{}},
	}
	if v != V5 {
		return cs
	}
	for _, c := range cs {
		if u, ok := c.p.(*Unsuback); ok {
			u.ReasonCodes = []ReasonCode{Success, NoSubscriptionExisted}
		}
	}
	user := "k=v"
	return append(cs, []roundTripCase{
		{"CONNECT password without user name", &Connect{ProtocolName: "MQTT", Version: V5, ClientID: "p", PasswordFlag: true, Password: []byte("pw")}},
		{"CONNECT properties", &Connect{
			ProtocolName: "MQTT", Version: V5, CleanStart: true, KeepAlive: 30, ClientID: "c",
			Props: props(PropSessionExpiry, 3600, PropReceiveMaximum, 20, PropMaximumPacketSize, 1<<20,
				PropTopicAliasMaximum, 10, PropRequestResponseInfo, 1, PropRequestProblemInfo, 0,
				PropUser, "a=1", PropUser, "a=1", PropUser, "b=", PropAuthMethod, "SCRAM-SHA-1", PropAuthData, "\x00\x01"),
			Will: &Will{Topic: "w", Payload: []byte("bye"), QoS: AtLeastOnce, Props: props(
				PropWillDelay, 5, PropPayloadFormat, 1, PropMessageExpiry, 60, PropContentType, "text/plain",
				PropResponseTopic, "r/t", PropCorrelationData, "id-1", PropUser, user)},
		}},
		{"CONNACK properties", &Connack{SessionPresent: true, Props: props(
			PropSessionExpiry, 10, PropReceiveMaximum, 100, PropMaximumQoS, 1, PropRetainAvailable, 0,
			PropMaximumPacketSize, 65536, PropAssignedClientID, "auto-1", PropTopicAliasMaximum, 5,
			PropReasonString, "ok", PropUser, user, PropWildcardSubAvailable, 1, PropSubscriptionIDAvailable, 0,
			PropSharedSubAvailable, 1, PropServerKeepAlive, 120, PropResponseInfo, "resp/",
			PropServerReference, "other:1883", PropAuthMethod, "m", PropAuthData, "d")}},
		{"CONNACK refused with reason string", &Connack{ReasonCode: QuotaExceeded, Props: props(PropReasonString, "full")}},
		{"CONNACK v5-only code", &Connack{ReasonCode: ServerMoved}},
		{"PUBLISH properties", &Publish{QoS: AtLeastOnce, Topic: "a", PacketID: 5, Payload: []byte("{}"), Props: props(
			PropPayloadFormat, 1, PropMessageExpiry, 30, PropTopicAlias, 3, PropResponseTopic, "reply/x",
			PropCorrelationData, "\xFF", PropContentType, "application/json", PropSubscriptionID, 1,
			PropSubscriptionID, 268435455, PropUser, user, PropUser, user)}},
		{"PUBLISH alias only", &Publish{Topic: "", Payload: []byte("p"), Props: props(PropTopicAlias, 1)}},
		{"PUBACK reason", &Puback{PacketID: 1, ReasonCode: NoMatchingSubscribers}},
		{"PUBACK properties", &Puback{PacketID: 1, ReasonCode: NotAuthorized, Props: props(PropReasonString, "no", PropUser, user)}},
		{"PUBACK success with properties", &Puback{PacketID: 1, Props: props(PropUser, user)}},
		{"PUBREC properties", &Pubrec{PacketID: 2, ReasonCode: QuotaExceeded, Props: props(PropReasonString, "q")}},
		{"PUBREL reason", &Pubrel{PacketID: 3, ReasonCode: PacketIdentifierNotFound}},
		{"PUBREL properties", &Pubrel{PacketID: 3, Props: props(PropReasonString, "r")}},
		{"PUBCOMP properties", &Pubcomp{PacketID: 4, ReasonCode: PacketIdentifierNotFound, Props: props(PropUser, user)}},
		{"SUBSCRIBE options and properties", &Subscribe{PacketID: 9, Props: props(PropSubscriptionID, 42, PropUser, user),
			Subscriptions: []Subscription{
				{Filter: "a/#", QoS: ExactlyOnce, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained},
				{Filter: "b", QoS: AtMostOnce, RetainHandling: SendRetainedIfNew},
				{Filter: "$share/g/c", QoS: AtLeastOnce, RetainAsPublished: true},
			}}},
		{"SUBACK v5 codes and properties", &Suback{PacketID: 9, Props: props(PropReasonString, "partly", PropUser, user),
			ReasonCodes: []ReasonCode{GrantedQoS2, NotAuthorized, TopicFilterInvalid, SharedSubscriptionsNotSupported,
				SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported, QuotaExceeded, PacketIdentifierInUse}}},
		{"UNSUBSCRIBE properties", &Unsubscribe{PacketID: 4, Props: props(PropUser, user), Filters: []string{"x"}}},
		{"UNSUBACK properties", &Unsuback{PacketID: 4, Props: props(PropReasonString, "s"), ReasonCodes: []ReasonCode{TopicFilterInvalid}}},
		{"DISCONNECT reason", &Disconnect{ReasonCode: DisconnectWithWillMessage}},
		{"DISCONNECT properties", &Disconnect{ReasonCode: ServerMoved, Props: props(PropSessionExpiry, 0,
			PropReasonString, "moved", PropServerReference, "b:1883", PropUser, user)}},
		{"AUTH short", &Auth{}},
		{"AUTH continue", &Auth{ReasonCode: ContinueAuthentication, Props: props(PropAuthMethod, "SCRAM-SHA-1",
			PropAuthData, "challenge", PropReasonString, "more", PropUser, user)}},
		{"AUTH re-authenticate", &Auth{ReasonCode: ReAuthenticate, Props: props(PropAuthMethod, "m")}},
	}...)
}

func TestRoundTrip(t *testing.T) {
	for _, v := range versions {
		for _, tt := range roundTripCases(v) {
			t.Run(fmt.Sprintf("%v/%s", v, tt.name), func(t *testing.T) {
				b := encode(t, tt.p, v)
				got, err := Read(bytes.NewReader(b), v, 0)
				if err != nil {
					t.Fatalf("Read(% x, %v) error: %v", b, v, err)
				}
				if diff := cmp.Diff(tt.p, got, cmpOpts...); diff != "" {
					t.Errorf("Read(% x, %v) mismatch (-want +got):\n%s", b, v, diff)
				}
				// Decode on the body alone agrees with Read.
				first, body := splitFixed(t, b)
				got2, err := Decode(first, body, v)
				if err != nil || !cmp.Equal(tt.p, got2, cmpOpts...) {
					t.Errorf("Decode(%02x, % x, %v) = %+v, %v, want %+v", first, body, v, got2, err, tt.p)
				}
			})
		}
	}
}

// splitFixed splits an encoded packet into its first byte and body,
// checking the remaining length.
func splitFixed(t *testing.T, b []byte) (byte, []byte) {
	t.Helper()
	n, size, err := decodeVarint(b[1:])
	if err != nil || 1+size+n != len(b) {
		t.Fatalf("packet % x: remaining length %d (%d bytes, %v), want %d", b, n, size, err, len(b)-1-size)
	}
	return b[0], b[1+size:]
}

// TestRoundTripStream reads every packet of one level back to back from
// one stream, then io.EOF.
func TestRoundTripStream(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			cs := roundTripCases(v)
			var buf bytes.Buffer
			for _, c := range cs {
				if err := Write(&buf, c.p, v); err != nil {
					t.Fatalf("Write(%s) error: %v", c.name, err)
				}
			}
			r := bytes.NewReader(buf.Bytes())
			for _, c := range cs {
				got, err := Read(r, v, 0)
				if err != nil {
					t.Fatalf("Read %s: %v", c.name, err)
				}
				if diff := cmp.Diff(c.p, got, cmpOpts...); diff != "" {
					t.Errorf("Read %s mismatch (-want +got):\n%s", c.name, diff)
				}
			}
			if _, err := Read(r, v, 0); err != io.EOF {
				t.Errorf("Read at end of stream = %v, want io.EOF", err)
			}
		})
	}
}

// TestVersionDropsV5Fields checks that fields a level cannot carry are left
// out rather than written, so the packet stays readable at that level.
func TestVersionDropsV5Fields(t *testing.T) {
	userProps := props(PropReasonString, "r", PropUser, "k=v")
	tests := []struct {
		name string
		v    Version
		in   Packet
		want Packet
	}{
		{"PUBLISH properties at 3.1.1", V311, &Publish{Topic: "t", Props: props(PropMessageExpiry, 1), Payload: []byte("x")},
			&Publish{Topic: "t", Payload: []byte("x")}},
		{"PUBACK reason at 3.1.1", V311, &Puback{PacketID: 1, ReasonCode: NotAuthorized, Props: userProps}, &Puback{PacketID: 1}},
		{"SUBSCRIBE options at 3.1.1", V311, &Subscribe{PacketID: 1, Props: props(PropSubscriptionID, 1),
			Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained}}},
			&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 1}}}},
		{"SUBACK v5 failure at 3.1.1", V311, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NotAuthorized, GrantedQoS1}},
			&Suback{PacketID: 1, ReasonCodes: []ReasonCode{UnspecifiedError, GrantedQoS1}}},
		{"UNSUBACK codes at 3.1.1", V311, &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{Success}}, &Unsuback{PacketID: 1}},
		{"DISCONNECT reason at 3.1.1", V311, &Disconnect{ReasonCode: ServerShuttingDown, Props: userProps}, &Disconnect{}},
		{"CONNACK v5 code at 3.1.1", V311, &Connack{ReasonCode: ServerBusy}, &Connack{ReasonCode: ServerUnavailable}},
		{"CONNACK banned at 3.1.1", V311, &Connack{ReasonCode: Banned}, &Connack{ReasonCode: NotAuthorized}},
		{"CONNACK session present at 3.1", V31, &Connack{SessionPresent: true}, &Connack{}},
		{"CONNECT properties at 3.1.1", V311, &Connect{Version: V311, ClientID: "c", Props: props(PropSessionExpiry, 1),
			Will: &Will{Topic: "w", Props: props(PropWillDelay, 1)}},
			&Connect{ProtocolName: "MQTT", Version: V311, ClientID: "c", Will: &Will{Topic: "w"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(t, tt.in, tt.v)
			got, err := Read(bytes.NewReader(b), tt.v, 0)
			if err != nil {
				t.Fatalf("Read(% x, %v) error: %v", b, tt.v, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
				t.Errorf("Read(% x, %v) mismatch (-want +got):\n%s", b, tt.v, diff)
			}
		})
	}
}
