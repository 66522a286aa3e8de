// Package packet is mqtool's single MQTT codec: every control packet of
// MQTT 3.1 (protocol level 3, "MQIsdp"), 3.1.1 (level 4) and 5.0 (level 5),
// their properties and reason codes, and topic name and filter validation
// and matching.
//
// One Read decodes a packet and one Write encodes it; both are the only
// places that switch on the packet type. Decoding is bounded: the remaining
// length is checked against the caller's maximum before anything is
// allocated, variable byte integers are at most four bytes, and every error
// names the field that failed and wraps the ReasonCode a server must answer
// with (errors.As(err, &code)).
//
// The package imports only the standard library.
package packet
