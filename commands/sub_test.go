package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
	"github.com/mqtool/mqtool/packet"
)

func TestParseSubSpec(t *testing.T) {
	base := packet.Subscription{QoS: 1, RetainHandling: packet.DoNotSendRetained}
	tests := []struct {
		name    string
		spec    string
		want    packet.Subscription
		wantID  uint32
		wantErr bool
	}{
		{name: "filter only", spec: ":a/b", want: packet.Subscription{Filter: "a/b", QoS: 1, RetainHandling: packet.DoNotSendRetained}},
		{name: "all options", spec: "qos=2,nl,rap,rh=1,id=7:s/#",
			want:   packet.Subscription{Filter: "s/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: packet.SendRetainedIfNew},
			wantID: 7},
		{name: "colon in filter", spec: "qos=0:a:b/c", want: packet.Subscription{Filter: "a:b/c", RetainHandling: packet.DoNotSendRetained}},
		{name: "spaces", spec: " nl , qos=0 :x", want: packet.Subscription{Filter: "x", NoLocal: true, RetainHandling: packet.DoNotSendRetained}},
		{name: "no colon", spec: "a/b", wantErr: true},
		{name: "bad qos", spec: "qos=3:a", wantErr: true},
		{name: "bad rh", spec: "rh=x:a", wantErr: true},
		{name: "id zero", spec: "id=0:a", wantErr: true},
		{name: "id too big", spec: "id=268435456:a", wantErr: true},
		{name: "nl with value", spec: "nl=1:a", wantErr: true},
		{name: "unknown", spec: "colour=red:a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, id, err := parseSubSpec(tt.spec, base)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseSubSpec(%q) = %+v, want an error", tt.spec, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSubSpec(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || id != tt.wantID {
				t.Errorf("parseSubSpec(%q) id %d (want %d) mismatch (-want +got):\n%s", tt.spec, id, tt.wantID, diff)
			}
		})
	}
}

func TestLatencyText(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{ns: 999, want: "Latency: 999ns"},
		{ns: 1500, want: "Latency: 1.500000µs"},
		{ns: 2500000, want: "Latency: 2.500000ms"},
		{ns: 1000000001, want: "Latency: 1.000000001"},
	}
	for _, tt := range tests {
		if got := latencyText(time.Duration(tt.ns)); got != tt.want {
			t.Errorf("latencyText(%dns) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

// TestFlagDocs checks that every flag of pub, sub and rr has a category and
// a usage that states its default.
func TestFlagDocs(t *testing.T) {
	s := &format.Streams{}
	for _, cmd := range []*cli.Command{pubCommand(s), subCommand(s), rrCommand(s)} {
		seen := map[string]bool{}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			for _, n := range f.Names() {
				if seen[n] {
					t.Errorf("%s: flag name %q defined twice", cmd.Name, n)
				}
				seen[n] = true
			}
			cf, ok := f.(cli.CategorizableFlag)
			if !ok || cf.GetCategory() == "" {
				t.Errorf("%s --%s has no category", cmd.Name, name)
			}
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				t.Errorf("%s --%s has no usage", cmd.Name, name)
				continue
			}
			if !strings.Contains(df.GetUsage(), "default") && df.GetDefaultText() == "" && df.GetValue() == "" {
				t.Errorf("%s --%s usage %q does not state its default", cmd.Name, name, df.GetUsage())
			}
		}
	}
}

// TestFlagPlaceholders checks that each flag's --help placeholder is the
// one meant: urfave/cli takes the first `quoted` word of a usage as the
// placeholder, so a usage may quote only its placeholder, in capitals.
func TestFlagPlaceholders(t *testing.T) {
	s := &format.Streams{}
	for _, cmd := range []*cli.Command{pubCommand(s), subCommand(s), rrCommand(s)} {
		for _, f := range cmd.Flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			parts := strings.Split(df.GetUsage(), "`")
			for i := 1; i < len(parts); i += 2 {
				if w := parts[i]; w != strings.ToUpper(w) || (i > 1 && w != parts[1]) {
					t.Errorf("%s --%s usage quotes %q, which is not its placeholder: %q", cmd.Name, f.Names()[0], w, df.GetUsage())
				}
			}
		}
	}
}
