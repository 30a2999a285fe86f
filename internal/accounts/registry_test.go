package accounts

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

func TestEnsureRebuildsOnlyWhenTheClientWouldDiffer(t *testing.T) {
	built := 0
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { built++; return nil, nil })
	key := types.NamespacedName{Namespace: "team-a", Name: "default"}
	opts := groupapi.Options{BaseURL: "https://a.example", Credentials: groupapi.Credentials{UserID: "1", Token: "t"}, RequestsPerSecond: 5, Burst: 10}

	steps := []struct {
		name    string
		opts    groupapi.Options
		rebuilt bool
	}{
		{"first use", opts, true},
		{"same options (a label on the Secret, a new syncInterval)", opts, false},
		{"rotated token", func() groupapi.Options { o := opts; o.Credentials.Token = "t2"; return o }(), true},
		{"new rate limit", func() groupapi.Options { o := opts; o.Credentials.Token = "t2"; o.RequestsPerSecond = 7; return o }(), true},
	}
	var epoch int64
	for i, s := range steps {
		e, rebuilt, err := r.Ensure(key, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		if rebuilt != s.rebuilt || (i > 0 && (e.Epoch != epoch) != s.rebuilt) {
			t.Errorf("%s: rebuilt %v (epoch %d, was %d), want %v", s.name, rebuilt, e.Epoch, epoch, s.rebuilt)
		}
		epoch = e.Epoch
	}
	if built != 3 {
		t.Errorf("clients built %d, want 3", built)
	}
}

func TestSetReadyReportsTheTransitionToReady(t *testing.T) {
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { return nil, nil })
	e, _, err := r.Ensure(types.NamespacedName{Namespace: "team-a", Name: "default"}, groupapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []struct {
		ready, became bool
	}{{true, true}, {true, false}, {false, false}, {true, true}} {
		if got := e.SetReady(s.ready, ""); got != s.became {
			t.Errorf("step %d: SetReady(%v) reported %v, want %v", i, s.ready, got, s.became)
		}
	}
}
