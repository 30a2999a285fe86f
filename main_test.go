package main

import "testing"

func TestParseDeletionPolicy(t *testing.T) {
	for in, ok := range map[string]bool{"Delete": true, "Orphan": true, "orphan": false, "": false, "Keep": false} {
		if p, err := parseDeletionPolicy(in); (err == nil) != ok || (ok && string(p) != in) {
			t.Errorf("--default-deletion-policy=%q: %q, %v", in, p, err)
		}
	}
}
