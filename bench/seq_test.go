package bench

import "testing"

func TestSeqTracker(t *testing.T) {
	tests := []struct {
		name                           string
		seqs                           []uint64
		expected                       uint64
		wantLost, wantDup, wantReorder uint64
		wantUnique                     uint64
	}{
		{"in order", []uint64{0, 1, 2, 3}, 4, 0, 0, 0, 4},
		{"nothing", nil, 3, 3, 0, 0, 0},
		{"gap", []uint64{0, 1, 3, 4}, 5, 1, 0, 0, 4},
		{"tail lost", []uint64{0, 1}, 5, 3, 0, 0, 2},
		{"duplicate", []uint64{0, 1, 1, 2}, 3, 0, 1, 0, 3},
		{"duplicate and gap", []uint64{0, 0, 2, 2, 2}, 3, 1, 3, 0, 2},
		{"reordered", []uint64{0, 2, 1, 3}, 4, 0, 0, 1, 4},
		{"late duplicate is not reorder", []uint64{0, 1, 2, 1}, 3, 0, 1, 0, 3},
		{"reversed", []uint64{3, 2, 1, 0}, 4, 0, 0, 3, 4},
		{"beyond first word", []uint64{0, 64, 65, 200, 64}, 201, 197, 1, 0, 4},
		{"received more than expected counts only expected", []uint64{0, 1, 5, 6}, 3, 1, 0, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr seqTracker
			for _, s := range tt.seqs {
				tr.add(s)
			}
			if got := tr.lost(tt.expected); got != tt.wantLost {
				t.Errorf("after %v lost(%d) = %d, want %d", tt.seqs, tt.expected, got, tt.wantLost)
			}
			if tr.dup != tt.wantDup || tr.reordered != tt.wantReorder || tr.unique != tt.wantUnique {
				t.Errorf("after %v dup, reordered, unique = %d, %d, %d; want %d, %d, %d",
					tt.seqs, tr.dup, tr.reordered, tr.unique, tt.wantDup, tt.wantReorder, tt.wantUnique)
			}
		})
	}
}

func TestSeqTrackerInvalid(t *testing.T) {
	var tr seqTracker
	if tr.add(maxTrackedSeq) || tr.invalid != 1 || tr.unique != 0 {
		t.Errorf("add(maxTrackedSeq): invalid %d unique %d, want 1, 0", tr.invalid, tr.unique)
	}
	if len(tr.bits) != 0 {
		t.Errorf("add(maxTrackedSeq) grew the bitmap to %d words", len(tr.bits))
	}
}
