package v1alpha1

import (
	"encoding/json"
	"fmt"
)

// CreateIntent is the add this AgentGroup may have sent without its group
// being bound: the annotation's, or the status field earlier versions
// wrote. nil when there is none, or when its group is bound. An annotation
// that is not an intent is an error that says what a person can do: the
// operator waits on it, and `kubectl agentgroup diff` reports it.
func (g *AgentGroup) CreateIntent() (*PendingCreate, error) {
	if g.Status.GroupID != "" {
		return nil, nil
	}
	raw, ok := g.Annotations[AnnotationCreateIntent]
	if !ok {
		return g.Status.PendingCreate, nil
	}
	p := &PendingCreate{}
	if err := json.Unmarshal([]byte(raw), p); err != nil || p.Name == "" {
		return nil, fmt.Errorf("annotation %s is not a create intent (%v): an add may have been sent; restore it, or remove it once sure no remote group was made for this AgentGroup",
			AnnotationCreateIntent, err)
	}
	return p, nil
}
