package packet

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixture is a packet written out byte by byte, as the spec's examples do.
type fixture struct {
	name string
	v    Version
	in   []byte
	want Packet
	// decodeOnly marks bytes that decode to want but are not how Write
	// encodes it (e.g. the long form of a PUBACK that has a short form).
	decodeOnly bool
}

var fixtures = []fixture{
	{name: "CONNECT 3.1 MQIsdp", v: V31, in: []byte{
		0x10, 0x12, // CONNECT, remaining length 18
		0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name
		0x03,       // protocol level 3
		0x02,       // flags: clean session
		0x00, 0x3C, // keep alive 60
		0x00, 0x04, 'm', 'q', '3', '1', // client identifier
	}, want: &Connect{ProtocolName: "MQIsdp", Version: V31, CleanStart: true, KeepAlive: 60, ClientID: "mq31"}},

	{name: "CONNECT 3.1.1 spec flags 0xCE", v: V311, in: []byte{
		0x10, 0x1D, // CONNECT, remaining length 29
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x04,       // protocol level 4
		0xCE,       // flags: user name, password, will QoS 1, will flag, clean session
		0x00, 0x0A, // keep alive 10
		0x00, 0x01, 'c', // client identifier
		0x00, 0x03, 'w', '/', 't', // will topic
		0x00, 0x03, 'b', 'y', 'e', // will payload
		0x00, 0x01, 'u', // user name
		0x00, 0x01, 'p', // password
	}, want: &Connect{ProtocolName: "MQTT", Version: V311, CleanStart: true, KeepAlive: 10, ClientID: "c",
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p"),
		Will: &Will{Topic: "w/t", Payload: []byte("bye"), QoS: AtLeastOnce}}},

	{name: "CONNECT 5.0 will and properties", v: V5, in: []byte{
		0x10, 0x2E, // CONNECT, remaining length 46
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x05,       // protocol level 5
		0xEE,       // flags: user name, password, will retain, will QoS 1, will flag, clean start
		0x00, 0x0A, // keep alive 10
		0x08,                         // property length 8
		0x11, 0x00, 0x00, 0x00, 0x0A, // session expiry interval 10
		0x21, 0x00, 0x14, // receive maximum 20
		0x00, 0x01, 'c', // client identifier
		0x07,       // will property length 7
		0x01, 0x01, // payload format indicator: UTF-8
		0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
		0x00, 0x03, 'w', '/', 't', // will topic
		0x00, 0x03, 'b', 'y', 'e', // will payload
		0x00, 0x01, 'u', // user name
		0x00, 0x01, 'p', // password
	}, want: &Connect{ProtocolName: "MQTT", Version: V5, CleanStart: true, KeepAlive: 10, ClientID: "c",
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p"),
		Props: props(PropSessionExpiry, 10, PropReceiveMaximum, 20),
		Will: &Will{Topic: "w/t", Payload: []byte("bye"), QoS: AtLeastOnce, Retain: true,
			Props: props(PropWillDelay, 5, PropPayloadFormat, 1)}}},

	{name: "CONNACK 3.1 refused not authorized", v: V31, in: []byte{
		0x20, 0x02, // CONNACK, remaining length 2
		0x00, // reserved
		0x05, // return code 5: not authorized
	}, want: &Connack{ReasonCode: NotAuthorized}},

	{name: "CONNACK 3.1.1 session present", v: V311, in: []byte{
		0x20, 0x02, // CONNACK, remaining length 2
		0x01, // acknowledge flags: session present
		0x00, // return code 0: accepted
	}, want: &Connack{SessionPresent: true, ReasonCode: Success}},

	{name: "CONNACK 3.1.1 bad user name or password", v: V311, in: []byte{
		0x20, 0x02, // CONNACK, remaining length 2
		0x00, // acknowledge flags
		0x04, // return code 4: bad user name or password
	}, want: &Connack{ReasonCode: BadUserNameOrPassword}},

	{name: "CONNACK 5.0 maximum packet size", v: V5, in: []byte{
		0x20, 0x08, // CONNACK, remaining length 8
		0x00,                         // acknowledge flags
		0x00,                         // reason code: success
		0x05,                         // property length 5
		0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
	}, want: &Connack{Props: props(PropMaximumPacketSize, 65536)}},

	{name: "CONNACK 5.0 not authorized", v: V5, in: []byte{
		0x20, 0x03, // CONNACK, remaining length 3
		0x00, // acknowledge flags
		0x87, // reason code: not authorized
		0x00, // property length 0
	}, want: &Connack{ReasonCode: NotAuthorized}},

	{name: "PUBLISH 3.1.1 QoS 0", v: V311, in: []byte{
		0x30, 0x07, // PUBLISH QoS 0, remaining length 7
		0x00, 0x03, 'a', '/', 'b', // topic name
		'h', 'i', // payload
	}, want: &Publish{Topic: "a/b", Payload: []byte("hi")}},

	{name: "PUBLISH 3.1.1 QoS 1 spec packet identifier 10", v: V311, in: []byte{
		0x32, 0x09, // PUBLISH QoS 1, remaining length 9
		0x00, 0x03, 'a', '/', 'b', // topic name
		0x00, 0x0A, // packet identifier 10
		'h', 'i', // payload
	}, want: &Publish{QoS: AtLeastOnce, Topic: "a/b", PacketID: 10, Payload: []byte("hi")}},

	{name: "PUBLISH 3.1 QoS 2 retain", v: V31, in: []byte{
		0x35, 0x07, // PUBLISH QoS 2 retain, remaining length 7
		0x00, 0x03, 'a', '/', 'b', // topic name
		0x12, 0x34, // packet identifier 0x1234
		// empty payload
	}, want: &Publish{QoS: ExactlyOnce, Retain: true, Topic: "a/b", PacketID: 0x1234}},

	{name: "PUBLISH 5.0 QoS 0 no properties", v: V5, in: []byte{
		0x30, 0x08, // PUBLISH QoS 0, remaining length 8
		0x00, 0x03, 'a', '/', 'b', // topic name
		0x00,     // property length 0
		'h', 'i', // payload
	}, want: &Publish{Topic: "a/b", Payload: []byte("hi")}},

	{name: "PUBLISH 5.0 QoS 2 dup retain properties", v: V5, in: []byte{
		0x3D, 0x11, // PUBLISH DUP, QoS 2, retain; remaining length 17
		0x00, 0x03, 'a', '/', 'b', // topic name
		0x00, 0x0B, // packet identifier 11
		0x07,       // property length 7
		0x01, 0x01, // payload format indicator: UTF-8
		0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60
		'h', 'i', // payload
	}, want: &Publish{Dup: true, QoS: ExactlyOnce, Retain: true, Topic: "a/b", PacketID: 11,
		Props: props(PropPayloadFormat, 1, PropMessageExpiry, 60), Payload: []byte("hi")}},

	{name: "PUBLISH 5.0 topic alias with empty topic", v: V5, in: []byte{
		0x30, 0x06, // PUBLISH QoS 0, remaining length 6
		0x00, 0x00, // topic name: empty
		0x03,             // property length 3
		0x23, 0x00, 0x02, // topic alias 2
		// empty payload
	}, want: &Publish{Props: props(PropTopicAlias, 2)}},

	{name: "PUBACK 3.1.1", v: V311, in: []byte{
		0x40, 0x02, // PUBACK, remaining length 2
		0x00, 0x0A, // packet identifier 10
	}, want: &Puback{PacketID: 10}},

	{name: "PUBACK 5.0 short form", v: V5, in: []byte{
		0x40, 0x02, // PUBACK, remaining length 2
		0x00, 0x0A, // packet identifier 10
	}, want: &Puback{PacketID: 10}},

	{name: "PUBACK 5.0 reason code only", v: V5, in: []byte{
		0x40, 0x03, // PUBACK, remaining length 3
		0x00, 0x0A, // packet identifier 10
		0x10, // reason code: no matching subscribers
	}, want: &Puback{PacketID: 10, ReasonCode: NoMatchingSubscribers}},

	{name: "PUBACK 5.0 long form of success", v: V5, decodeOnly: true, in: []byte{
		0x40, 0x04, // PUBACK, remaining length 4
		0x00, 0x0A, // packet identifier 10
		0x00, // reason code: success
		0x00, // property length 0
	}, want: &Puback{PacketID: 10}},

	{name: "PUBACK 5.0 reason string", v: V5, in: []byte{
		0x40, 0x09, // PUBACK, remaining length 9
		0x00, 0x0A, // packet identifier 10
		0x87,                       // reason code: not authorized
		0x05,                       // property length 5
		0x1F, 0x00, 0x02, 'n', 'o', // reason string "no"
	}, want: &Puback{PacketID: 10, ReasonCode: NotAuthorized, Props: props(PropReasonString, "no")}},

	{name: "PUBREC 3.1.1", v: V311, in: []byte{
		0x50, 0x02, // PUBREC, remaining length 2
		0x00, 0x0A, // packet identifier 10
	}, want: &Pubrec{PacketID: 10}},

	{name: "PUBREL 3.1.1", v: V311, in: []byte{
		0x62, 0x02, // PUBREL with reserved flags 0010, remaining length 2
		0x00, 0x0A, // packet identifier 10
	}, want: &Pubrel{PacketID: 10}},

	{name: "PUBREL 5.0 packet identifier not found", v: V5, in: []byte{
		0x62, 0x03, // PUBREL, remaining length 3
		0x00, 0x0A, // packet identifier 10
		0x92, // reason code: packet identifier not found
	}, want: &Pubrel{PacketID: 10, ReasonCode: PacketIdentifierNotFound}},

	{name: "PUBCOMP 5.0", v: V5, in: []byte{
		0x70, 0x02, // PUBCOMP, remaining length 2
		0x00, 0x0A, // packet identifier 10
	}, want: &Pubcomp{PacketID: 10}},

	{name: "SUBSCRIBE 3.1.1 spec example", v: V311, in: []byte{
		0x82, 0x0E, // SUBSCRIBE with reserved flags 0010, remaining length 14
		0x00, 0x0A, // packet identifier 10
		0x00, 0x03, 'a', '/', 'b', // topic filter
		0x01,                      // requested QoS 1
		0x00, 0x03, 'c', '/', 'd', // topic filter
		0x02, // requested QoS 2
	}, want: &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/b", QoS: 1}, {Filter: "c/d", QoS: 2}}}},

	{name: "SUBSCRIBE 3.1", v: V31, in: []byte{
		0x82, 0x08, // SUBSCRIBE QoS 1, remaining length 8
		0x00, 0x01, // packet identifier 1
		0x00, 0x03, 'a', '/', '#', // topic filter
		0x00, // requested QoS 0
	}, want: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/#"}}}},

	{name: "SUBSCRIBE 5.0 options and subscription identifier", v: V5, in: []byte{
		0x82, 0x11, // SUBSCRIBE, remaining length 17
		0x00, 0x0A, // packet identifier 10
		0x02,       // property length 2
		0x0B, 0x05, // subscription identifier 5
		0x00, 0x03, 'a', '/', 'b', // topic filter
		0x2D,                      // options: retain handling 2, retain as published, no local, QoS 1
		0x00, 0x03, 'c', '/', 'd', // topic filter
		0x12, // options: retain handling 1, QoS 2
	}, want: &Subscribe{PacketID: 10, Props: props(PropSubscriptionID, 5), Subscriptions: []Subscription{
		{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: DoNotSendRetained},
		{Filter: "c/d", QoS: 2, RetainHandling: SendRetainedIfNew},
	}}},

	{name: "SUBACK 3.1.1 spec example", v: V311, in: []byte{
		0x90, 0x06, // SUBACK, remaining length 6
		0x00, 0x0A, // packet identifier 10
		0x00, // success, maximum QoS 0
		0x01, // success, maximum QoS 1
		0x02, // success, maximum QoS 2
		0x80, // failure
	}, want: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}}},

	{name: "SUBACK 5.0", v: V5, in: []byte{
		0x90, 0x05, // SUBACK, remaining length 5
		0x00, 0x0A, // packet identifier 10
		0x00, // property length 0
		0x01, // granted QoS 1
		0x87, // not authorized
	}, want: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized}}},

	{name: "UNSUBSCRIBE 3.1.1", v: V311, in: []byte{
		0xA2, 0x0A, // UNSUBSCRIBE with reserved flags 0010, remaining length 10
		0x00, 0x0B, // packet identifier 11
		0x00, 0x03, 'a', '/', 'b', // topic filter
		0x00, 0x01, '#', // topic filter
	}, want: &Unsubscribe{PacketID: 11, Filters: []string{"a/b", "#"}}},

	{name: "UNSUBACK 3.1.1", v: V311, in: []byte{
		0xB0, 0x02, // UNSUBACK, remaining length 2
		0x00, 0x0B, // packet identifier 11
	}, want: &Unsuback{PacketID: 11}},

	{name: "UNSUBACK 5.0", v: V5, in: []byte{
		0xB0, 0x04, // UNSUBACK, remaining length 4
		0x00, 0x0B, // packet identifier 11
		0x00, // property length 0
		0x11, // no subscription existed
	}, want: &Unsuback{PacketID: 11, ReasonCodes: []ReasonCode{NoSubscriptionExisted}}},

	{name: "PINGREQ", v: V311, in: []byte{0xC0, 0x00}, want: &Pingreq{}},
	{name: "PINGRESP", v: V5, in: []byte{0xD0, 0x00}, want: &Pingresp{}},
	{name: "DISCONNECT 3.1.1", v: V311, in: []byte{0xE0, 0x00}, want: &Disconnect{}},
	{name: "DISCONNECT 5.0 short form", v: V5, in: []byte{0xE0, 0x00}, want: &Disconnect{}},

	{name: "DISCONNECT 5.0 with will message", v: V5, in: []byte{
		0xE0, 0x01, // DISCONNECT, remaining length 1
		0x04, // reason code: disconnect with will message
	}, want: &Disconnect{ReasonCode: DisconnectWithWillMessage}},

	{name: "DISCONNECT 5.0 reason string", v: V5, in: []byte{
		0xE0, 0x08, // DISCONNECT, remaining length 8
		0x8B,                            // reason code: server shutting down
		0x06,                            // property length 6
		0x1F, 0x00, 0x03, 'b', 'y', 'e', // reason string "bye"
	}, want: &Disconnect{ReasonCode: ServerShuttingDown, Props: props(PropReasonString, "bye")}},

	{name: "AUTH 5.0 short form", v: V5, in: []byte{0xF0, 0x00}, want: &Auth{}},

	{name: "AUTH 5.0 continue authentication", v: V5, in: []byte{
		0xF0, 0x0F, // AUTH, remaining length 15
		0x18,                                      // reason code: continue authentication
		0x0D,                                      // property length 13
		0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method
		0x16, 0x00, 0x02, 0x01, 0x02, // authentication data
	}, want: &Auth{ReasonCode: ContinueAuthentication, Props: props(PropAuthMethod, "SCRAM", PropAuthData, "\x01\x02")}},
}

func TestFixtures(t *testing.T) {
	for _, tt := range fixtures {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tt.in), tt.v, 0)
			if err != nil {
				t.Fatalf("Read(% x, %v) error: %v", tt.in, tt.v, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
				t.Errorf("Read(% x, %v) mismatch (-want +got):\n%s", tt.in, tt.v, diff)
			}
			if tt.decodeOnly {
				return
			}
			if b := encode(t, tt.want, tt.v); !bytes.Equal(b, tt.in) {
				t.Errorf("Append(%+v, %v) =\n% x\nwant\n% x", tt.want, tt.v, b, tt.in)
			}
		})
	}
}
