package packet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares packets treating nil and empty slices alike; Properties
// compare with their Equal method.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

var versions = []Version{V31, V311, V5}

// props builds Properties from id/value pairs: an int value goes through
// SetUint, a string through SetString, and PropUser takes "key=value".
func props(args ...any) Properties {
	var p Properties
	for i := 0; i+1 < len(args); i += 2 {
		id := args[i].(PropID)
		var err error
		switch v := args[i+1].(type) {
		case int:
			err = p.SetUint(id, uint64(v))
		case string:
			if id == PropUser {
				k, val, _ := strings.Cut(v, "=")
				p.User = append(p.User, UserProperty{k, val})
			} else {
				err = p.SetString(id, v)
			}
		default:
			panic("props: bad value type")
		}
		if err != nil {
			panic(err)
		}
	}
	return p
}

// encode returns the bytes of p at v via Append and checks that Write and
// Size agree with them.
func encode(t *testing.T, p Packet, v Version) []byte {
	t.Helper()
	b, err := Append(nil, p, v)
	if err != nil {
		t.Fatalf("Append(%T, %v) error: %v", p, v, err)
	}
	var w bytes.Buffer
	if err := Write(&w, p, v); err != nil {
		t.Fatalf("Write(%T, %v) error: %v", p, v, err)
	}
	if !bytes.Equal(w.Bytes(), b) {
		t.Errorf("Write(%T, %v) = % x, Append = % x", p, v, w.Bytes(), b)
	}
	n, err := Size(p, v)
	if err != nil || n != len(b) {
		t.Errorf("Size(%T, %v) = %d, %v, want %d, nil", p, v, n, err, len(b))
	}
	return b
}
