package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// progress is what a Ready reason tells kstatus (Flux, `kubectl wait`,
// Argo CD's health checks): the object is done, will get there by itself,
// rests where its spec put it, or waits for a person.
type progress int

const (
	// progressing: Reconciling=True, kstatus InProgress.
	progressing progress = iota
	// done: Ready=True, kstatus Current.
	done
	// settled: the spec asks for nothing more (suspended, or Observe with
	// nothing to observe). Ready=True with that reason: kstatus reads a
	// Ready=False as InProgress, and Flux would wait on it forever.
	settled
	// stalled: Stalled=True, kstatus Failed. Nothing changes until a
	// person changes something; re-tried at a long interval.
	stalled
)

// agentGroupProgress is the progress of every AgentGroup Ready reason.
var agentGroupProgress = map[string]progress{
	deepcallv1.ReasonSynced:              done,
	deepcallv1.ReasonObserving:           done,
	deepcallv1.ReasonSuspended:           settled,
	deepcallv1.ReasonNothingToObserve:    settled,
	deepcallv1.ReasonReconciling:         progressing,
	deepcallv1.ReasonCreating:            progressing,
	deepcallv1.ReasonCreatePending:       progressing,
	deepcallv1.ReasonRemoteError:         progressing,
	deepcallv1.ReasonThrottled:           progressing,
	deepcallv1.ReasonAccountNotFound:     progressing,
	deepcallv1.ReasonAccountNotReady:     progressing,
	deepcallv1.ReasonDeleting:            progressing,
	deepcallv1.ReasonAmbiguousCreate:     stalled,
	deepcallv1.ReasonNameConflict:        stalled,
	deepcallv1.ReasonDuplicateGroupName:  stalled,
	deepcallv1.ReasonRemoteGroupNotFound: stalled,
	deepcallv1.ReasonPermissionDenied:    stalled,
	deepcallv1.ReasonInvalidRequest:      stalled,
	deepcallv1.ReasonGroupIDInUse:        stalled,
	deepcallv1.ReasonGroupIDMismatch:     stalled,
	deepcallv1.ReasonAccountChanged:      stalled,
	deepcallv1.ReasonAccountNotAllowed:   stalled,
	deepcallv1.ReasonInvalidBaseURL:      stalled,
	deepcallv1.ReasonStatusUnreadable:    stalled,
}

// accountProgress is the progress of every Account Ready reason.
var accountProgress = map[string]progress{
	deepcallv1.ReasonSynced:             done,
	deepcallv1.ReasonUnreachable:        progressing,
	deepcallv1.ReasonDeleting:           progressing,
	deepcallv1.ReasonSecretNotFound:     stalled,
	deepcallv1.ReasonInvalidCredentials: stalled,
	deepcallv1.ReasonUnauthorized:       stalled,
	deepcallv1.ReasonInvalidBaseURL:     stalled,
}

// setReady sets Ready, and Reconciling and Stalled as its reason implies;
// those two exist only while True (the kstatus convention).
func setReady(conds *[]metav1.Condition, generation int64, p progress, reason, message string) {
	st := metav1.ConditionFalse
	if p == done || p == settled {
		st = metav1.ConditionTrue
	}
	setCondition(conds, generation, deepcallv1.ConditionReady, st, reason, message)
	for typ, on := range map[string]bool{deepcallv1.ConditionReconciling: p == progressing, deepcallv1.ConditionStalled: p == stalled} {
		if on {
			setCondition(conds, generation, typ, metav1.ConditionTrue, reason, message)
		} else {
			meta.RemoveStatusCondition(conds, typ)
		}
	}
}
