package bench

// maxTrackedSeq bounds the bitmap a tracker grows to (128 MiB of bits would
// be 2^30 messages from one publisher); later sequences count as invalid.
const maxTrackedSeq = 1 << 30

// seqTracker accounts for the sequence numbers one subscriber receives from
// one publisher. Publishers number messages 0, 1, 2, ... so a bitmap tells
// duplicates; a sequence below the highest seen so far is reordered.
type seqTracker struct {
	bits      []uint64
	unique    uint64
	dup       uint64
	reordered uint64
	invalid   uint64
	max       uint64
	any       bool
}

// add records seq and reports whether it was a duplicate.
func (t *seqTracker) add(seq uint64) (dup bool) {
	if seq >= maxTrackedSeq {
		t.invalid++
		return false
	}
	w, b := seq/64, seq%64
	if w >= uint64(len(t.bits)) {
		n := max(2*len(t.bits), int(w)+1, 16)
		grown := make([]uint64, n)
		copy(grown, t.bits)
		t.bits = grown
	}
	if t.bits[w]&(1<<b) != 0 {
		t.dup++
		return true
	}
	t.bits[w] |= 1 << b
	t.unique++
	if t.any && seq < t.max {
		t.reordered++
	}
	if !t.any || seq > t.max {
		t.max = seq
	}
	t.any = true
	return false
}

// lost returns how many of the first expected sequences never arrived.
func (t *seqTracker) lost(expected uint64) uint64 {
	got := t.unique
	if expected < maxTrackedSeq && t.max >= expected {
		// Count only the sequences the publisher is known to have sent.
		got = 0
		for s := uint64(0); s < expected; s += 64 {
			w := t.bits[s/64]
			if rest := expected - s; rest < 64 {
				w &= 1<<rest - 1
			}
			got += uint64(popcount(w))
		}
	}
	if got >= expected {
		return 0
	}
	return expected - got
}

func popcount(x uint64) int {
	n := 0
	for x != 0 {
		x &= x - 1
		n++
	}
	return n
}
