package v1alpha1

import (
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/json"
)

// What the operator stores is read back by every later version, and by an
// earlier one after a rollback (docs/operations.md, "Compatibility"). The
// API server stores any value the CRD's schema allows, which may be more
// than a Go type reads: one status that a type refuses fails the
// informer's whole list, and every AgentGroup of the cluster stalls. So
// stored fields are read in every form a version wrote, and a status
// field that still cannot be read is left out and named instead of
// failing the list: the operator writes anew what a pass finds again, and
// refuses to act without a fact it cannot find again (UnreadableFacts).

// UnmarshalJSON reads an intent in every form a version wrote: startedAt
// to the second (the first version), or to the microsecond (later ones),
// and in any other RFC 3339 form the schema takes.
// Intents are written to the microsecond, which every version since the
// first reads.
func (p *PendingCreate) UnmarshalJSON(data []byte) error {
	type fields PendingCreate // the same fields, without this method
	var stored struct {
		fields
		StartedAt *string `json:"startedAt"` // shadows fields.StartedAt
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		return err
	}
	*p = PendingCreate(stored.fields)
	if stored.StartedAt == nil || *stored.StartedAt == "" {
		return nil
	}
	// RFC 3339 with any number of fractional digits, or none, and its
	// lower-case t and z.
	t, err := time.Parse(time.RFC3339, *stored.StartedAt)
	if err != nil {
		var upper error
		if t, upper = time.Parse(time.RFC3339, strings.ToUpper(*stored.StartedAt)); upper != nil {
			return fmt.Errorf("startedAt: %w", err)
		}
	}
	p.StartedAt = metav1.NewMicroTime(t.Local())
	return nil
}

// UnmarshalJSON reads the status; a field that cannot be read is left
// empty and named in Unreadable.
func (s *AgentGroupStatus) UnmarshalJSON(data []byte) error {
	type fields AgentGroupStatus // the same fields, without this method
	unreadable, err := decodeFields(data, (*fields)(s))
	s.Unreadable = unreadable
	return err
}

// UnmarshalJSON reads the status; a field that cannot be read is left
// empty and named in Unreadable.
func (s *AccountStatus) UnmarshalJSON(data []byte) error {
	type fields AccountStatus // the same fields, without this method
	unreadable, err := decodeFields(data, (*fields)(s))
	s.Unreadable = unreadable
	return err
}

// statusFacts are the AgentGroup status fields that record what happened
// (the group it holds, in which remote account, an add in flight), which
// no later pass can find again by looking. Every other status field (of
// an Account, all of them) says what the last pass found, and the next
// pass finds it again.
var statusFacts = []string{"groupId", "remoteAccount", "pendingCreate"}

// UnreadableFacts says which facts of an AgentGroup's stored status this
// version cannot read ("" when it reads them all): a later version may
// have written them. The operator does nothing for such an AgentGroup, not
// even delete it: without them it could make a second group or delete one
// it never held.
func (s *AgentGroupStatus) UnreadableFacts() string {
	var facts []string
	for _, f := range statusFacts {
		if why, ok := s.Unreadable[f]; ok {
			facts = append(facts, fmt.Sprintf("%s (%s)", f, why))
		}
	}
	if len(facts) == 0 {
		return ""
	}
	return fmt.Sprintf("this version of the operator cannot read status.%s; it does nothing for this AgentGroup, not even delete it, until it can: "+
		"run the operator version that wrote it (or a later one), or set it right by hand (`kubectl edit --subresource=status`) and resync (`kubectl agentgroup resync`)",
		strings.Join(facts, ", status."))
}

// decodeFields decodes a JSON object into the struct v points to. When
// that fails, it decodes each field on its own: the ones that read are
// kept, the others are left empty and returned, by JSON name, with why.
// Every field of v has a JSON name of its own (stored_forms_test.go
// checks): embedded or unnamed fields would be skipped here.
func decodeFields(data []byte, v any) (map[string]string, error) {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil, nil
	}
	var raw map[string]stdjson.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return nil, err // not an object: no schema stores that
	}
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	unreadable := map[string]string{}
	for i := range rv.NumField() {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		value, ok := raw[name]
		if !ok || name == "" || name == "-" {
			continue
		}
		if err := json.Unmarshal(value, rv.Field(i).Addr().Interface()); err != nil {
			rv.Field(i).SetZero()
			unreadable[name] = err.Error()
		}
	}
	return unreadable, nil
}
