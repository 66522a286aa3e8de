package format

import "testing"

func TestParseColorMode(t *testing.T) {
	tests := []struct {
		in      string
		want    ColorMode
		wantErr bool
	}{
		{"", ColorAuto, false},
		{"auto", ColorAuto, false},
		{"always", ColorAlways, false},
		{"never", ColorNever, false},
		{"sometimes", ColorAuto, true},
		{"ALWAYS", ColorAuto, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseColorMode(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseColorMode(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil && tt.in != "" && got.String() != tt.in {
				t.Errorf("ParseColorMode(%q).String() = %q", tt.in, got.String())
			}
		})
	}
}

func TestStreamsColor(t *testing.T) {
	tests := []struct {
		name  string
		s     Streams
		mode  ColorMode
		toErr bool
		want  bool
	}{
		{"always without a terminal", Streams{}, ColorAlways, false, true},
		{"always despite NO_COLOR", Streams{NoColor: true}, ColorAlways, false, true},
		{"never on a terminal", Streams{OutTTY: true}, ColorNever, false, false},
		{"auto on a terminal", Streams{OutTTY: true}, ColorAuto, false, true},
		{"auto piped", Streams{}, ColorAuto, false, false},
		{"auto with NO_COLOR", Streams{OutTTY: true, NoColor: true}, ColorAuto, false, false},
		{"auto stderr follows stderr", Streams{OutTTY: true}, ColorAuto, true, false},
		{"auto stderr on a terminal", Streams{ErrTTY: true}, ColorAuto, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Color(tt.mode, tt.toErr); got != tt.want {
				t.Errorf("Color(%v, toErr %v) = %v, want %v", tt.mode, tt.toErr, got, tt.want)
			}
		})
	}
}
