package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/mqtool/mqtool/packet"
)

func ExampleWrite() {
	var buf bytes.Buffer
	p := &packet.Publish{QoS: packet.AtLeastOnce, PacketID: 10, Topic: "a/b", Payload: []byte("hi")}
	if err := packet.Write(&buf, p, packet.V311); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("% x\n", buf.Bytes())
	// Output: 32 09 00 03 61 2f 62 00 0a 68 69
}

func ExampleRead() {
	r := bufio.NewReader(bytes.NewReader([]byte{0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0a, 'h', 'i'}))
	p, err := packet.Read(r, packet.V311, 1024)
	if err != nil {
		fmt.Println(err)
		return
	}
	pub := p.(*packet.Publish)
	fmt.Println(p.Type(), pub.Topic, pub.QoS, pub.PacketID, string(pub.Payload))
	// Output: PUBLISH a/b 1 10 hi
}

func ExampleReasonCode() {
	// A PUBLISH whose topic name holds a wildcard.
	_, err := packet.Read(bytes.NewReader([]byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}), packet.V311, 0)
	var code packet.ReasonCode
	if errors.As(err, &code) {
		fmt.Printf("0x%02X %s\n", byte(code), code.String())
	}
	// Output: 0x90 topic name invalid
}

func ExampleMatch() {
	fmt.Println(packet.Match("sport/#", "sport"))
	fmt.Println(packet.Match("+/+", "/finance"))
	fmt.Println(packet.Match("#", "$SYS/broker/uptime"))
	// Output:
	// true
	// true
	// false
}
