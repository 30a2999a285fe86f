package controllers

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"
)

// A write is timed once, when the first event at or after its
// resourceVersion arrives (after a relist, a later version), whether that
// event comes after the write's answer or before it, and not by the events
// of older writes.
func TestEchoesTimeEachWriteOnce(t *testing.T) {
	count := func() (uint64, float64) {
		m := &dto.Metric{}
		if err := metrics.watchDelay.Write(m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}
	var e echoes
	a, b := types.UID("a"), types.UID("b")
	n0, _ := count()

	e.wrote(a, "10", "10", time.Now()) // changed nothing: no event will come
	if d := e.oldestPending(time.Now()); d != 0 {
		t.Fatalf("a write that changed nothing waits for its event (%v)", d)
	}
	e.wrote(a, "8", "10", time.Now().Add(-2*time.Second))
	if d := e.oldestPending(time.Now()); d < 2*time.Second {
		t.Errorf("oldest pending write %v old, want at least 2s", d)
	}
	e.arrived(a, "9") // an older write's event
	if n, _ := count(); n != n0 {
		t.Fatalf("an older event was timed as our write (%d samples, want %d)", n, n0)
	}
	e.arrived(a, "10")
	e.arrived(a, "10") // a repeat (a relist) is not a second sample
	n1, sum1 := count()
	if n1 != n0+1 {
		t.Fatalf("%d samples after our event arrived, want %d", n1, n0+1)
	}

	// The event can beat the write's answer: the write is still timed,
	// from when it was sent to when its event arrived.
	sent := time.Now()
	e.arrived(b, "20")
	e.wrote(b, "19", "20", sent.Add(-time.Second))
	n2, sum2 := count()
	if n2 != n1+1 {
		t.Fatalf("%d samples after an event that came before its answer, want %d", n2, n1+1)
	}
	if d := sum2 - sum1; d < 1 {
		t.Errorf("timed %.2fs from a write sent 1s before its event arrived", d)
	}
	// After a relist the watch brings a later version, not ours.
	e.wrote(a, "10", "30", time.Now())
	e.arrived(a, "29")
	e.arrived(a, "35")
	if n, _ := count(); n != n2+1 {
		t.Fatalf("%d samples after a later version arrived, want %d", n, n2+1)
	}
	if d := e.oldestPending(time.Now()); d != 0 {
		t.Errorf("a write still pending (%v) after every event came", d)
	}
	e.forget(a)
	e.forget(b)
	if len(e.last) != 0 {
		t.Errorf("%d entries left after both were forgotten", len(e.last))
	}
}
