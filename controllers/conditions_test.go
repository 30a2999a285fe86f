package controllers

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// TestApplyOutcome: which conditions exist after each kind of pass, as
// type=status/reason, and whether the generation counts as observed.
func TestApplyOutcome(t *testing.T) {
	cases := map[string]struct {
		out      outcome
		want     []string
		observed bool
	}{
		"synced": {
			out:  outcome{final: true, reason: deepcallv1.ReasonSynced, remote: &plan.Remote{ID: "1"}, driftKnown: true},
			want: []string{"InSync=True/InSync", "Ready=True/Synced"}, observed: true,
		},
		"observing with drift": {
			out:  outcome{final: true, reason: deepcallv1.ReasonObserving, remote: &plan.Remote{ID: "1"}, drift: []string{"x"}, driftKnown: true},
			want: []string{"InSync=False/OutOfSync", "Ready=True/Observing"}, observed: true,
		},
		"retrying": {
			out:  outcome{reason: deepcallv1.ReasonRemoteError},
			want: []string{"Ready=False/RemoteError", "Reconciling=True/RemoteError"},
		},
		"stalled": {
			out:  outcome{final: true, reason: deepcallv1.ReasonNameConflict},
			want: []string{"Ready=False/NameConflict", "Stalled=True/NameConflict"}, observed: true,
		},
		"suspended": {
			out:  outcome{final: true, reason: deepcallv1.ReasonSuspended},
			want: []string{"Ready=True/Suspended"}, observed: true,
		},
		"observe finds no group": {
			out:  outcome{final: true, reason: deepcallv1.ReasonNothingToObserve, drift: []string{plan.DriftMissing}, driftKnown: true},
			want: []string{"InSync=False/OutOfSync", "Ready=True/NothingToObserve"}, observed: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			g.Status.ObservedGeneration = -1
			// Leftovers of an earlier pass must not survive.
			g.Status.Conditions = []metav1.Condition{
				{Type: deepcallv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old"},
				{Type: deepcallv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "Old"},
			}
			applyOutcome(g, tc.out)
			var got []string
			for _, c := range g.Status.Conditions {
				if c.ObservedGeneration != 3 {
					t.Errorf("%s carries generation %d", c.Type, c.ObservedGeneration)
				}
				got = append(got, c.Type+"="+string(c.Status)+"/"+c.Reason)
			}
			if diff := cmp.Diff(tc.want, sorted(got)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if (g.Status.ObservedGeneration == 3) != tc.observed {
				t.Errorf("observedGeneration %d", g.Status.ObservedGeneration)
			}
		})
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestCredentialsFrom(t *testing.T) {
	cases := map[string]struct {
		data map[string]string
		err  string
	}{
		"user and token": {data: map[string]string{"userId": "1", "token": "s3cr3t-t0k"}},
		"ssid":           {data: map[string]string{"ssid": "s3cr3t-ss1d"}},
		"both forms":     {data: map[string]string{"ssid": "s3cr3t-ss1d", "userId": "1", "token": "s3cr3t-t0k"}, err: "it holds [ssid, token, userId]"},
		"token only":     {data: map[string]string{"token": "s3cr3t-t0k"}, err: "it holds [token]"},
		"empty token":    {data: map[string]string{"userId": "1", "token": ""}, err: "it holds [token, userId]"},
		"other keys":     {data: map[string]string{"password": "s3cr3t-pw"}, err: "must hold either the key ssid, or the keys userId and token"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{}}
			for k, v := range tc.data {
				s.Data[k] = []byte(v)
			}
			_, err := credentialsFrom(s)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			for _, v := range tc.data {
				if len(v) > 1 && strings.Contains(err.Error(), v) {
					t.Errorf("error %q holds a value", err)
				}
			}
		})
	}
}
