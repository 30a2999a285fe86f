package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// shape is what checking one answer's raw body saw: notes in order, and
// the worst verdict among them. The records are found and read with
// groupapi's own functions (Records, GroupIDOf, GroupFromRecord), so what
// is judged is what the operator would read; this file only says how the
// raw fields looked.
type shape struct {
	verdict verdict
	notes   []string
}

func (s *shape) note(v verdict, format string, args ...any) {
	s.verdict = worse(s.verdict, v)
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func (s shape) String() string { return strings.Join(s.notes, ", ") }

// jsonKind names a raw JSON value's type as the doctor reports it.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "absent"
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return "numeric string"
			}
		}
		return "string"
	case raw[0] == '{':
		return "object"
	case raw[0] == '[':
		return "list"
	case string(raw) == "true" || string(raw) == "false":
		return "boolean"
	case string(raw) == "null":
		return "null"
	}
	return "number"
}

// kinds describes a set of JSON kinds: "numbers", "numbers and numeric
// strings".
func kinds(set map[string]bool) string {
	plural := func(k string) string {
		if k == "absent" || k == "null" {
			return k
		}
		return k + "s"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, plural(k))
	}
	return strings.Join(out, " and ")
}

// answerFields are a body's top-level fields ("" body: none).
func answerFields(body []byte) groupapi.Record {
	var top groupapi.Record
	_ = json.Unmarshal(bytes.TrimSpace(body), &top)
	return top
}

// checkListAnswer checks a successful list answer: where the records
// are (GROUP_API.md: an array in response) and how each looks.
func checkListAnswer(body []byte) (s shape, records []groupapi.Record) {
	top := answerFields(body)
	raw, ok := top["response"]
	if !ok {
		s.note(verdictFail, "no response field (fields: %s): the operator reads no group from this answer and would take every group for deleted",
			strings.Join(slices.Sorted(maps.Keys(top)), ", "))
		return s, nil
	}
	recs, form, err := groupapi.Records(raw)
	if err != nil {
		s.note(verdictFail, "response is a %s the operator cannot read: %v", jsonKind(raw), err)
		return s, nil
	}
	n := len(recs)
	switch form.Kind {
	case groupapi.RecordsList:
		s.note(verdictOK, "%s, wrapped in response[]", plural(n, "group", "groups"))
	case groupapi.RecordsWrapped:
		s.note(verdictWarn, "%s, wrapped in response.%s[] (GROUP_API.md: response[]; the operator reads it)", plural(n, "group", "groups"), form.Key)
	case groupapi.RecordsSingle:
		s.note(verdictWarn, "1 group, response is the record itself, not a list (the operator reads it)")
	case groupapi.RecordsNone:
		s.note(verdictOK, "0 groups, response is %s", jsonKind(raw))
	}
	checkGroupRecords(&s, recs)
	return s, recs
}

// checkGroupRecords checks the fields the operator reads from group
// records: the id, the name and the status.
func checkGroupRecords(s *shape, recs []groupapi.Record) {
	if len(recs) == 0 {
		return
	}
	idKeys, idKinds, statusKinds, statusValues := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var noID, noName, nameElsewhere, noStatus int
	for _, rec := range recs {
		key, id := groupapi.GroupIDOf(rec)
		if id == "" {
			noID++
		} else {
			idKeys[key] = true
			idKinds[jsonKind(rec[key])] = true
		}
		switch g := groupapi.GroupFromRecord(rec); {
		case g.Name == "":
			noName++
		case jsonKind(rec["name"]) == "absent":
			nameElsewhere++
		}
		if st, ok := rec["status"]; ok {
			statusKinds[jsonKind(st)] = true
			statusValues[strings.Trim(string(bytes.TrimSpace(st)), `"`)] = true
		} else {
			noStatus++
		}
	}
	if noID > 0 {
		s.note(verdictFail, "%s without a group id: the operator refuses the whole listing", plural(noID, "record", "records"))
	}
	if len(idKinds) > 0 {
		v := verdictOK
		if idKinds["string"] || len(idKinds) > 1 {
			v = verdictWarn // the operator copes: it sends ids back as strings
		}
		where := strings.Join(slices.Sorted(maps.Keys(idKeys)), " and ")
		if len(idKeys) > 1 || !idKeys["group_id"] {
			v, where = verdictWarn, where+" (GROUP_API.md: group_id; the operator reads it)"
		}
		s.note(v, "ids are %s under %s", kinds(idKinds), where)
	}
	switch {
	case noName > 0:
		s.note(verdictFail, "%s without a name: the operator would rename those groups on every check", plural(noName, "record", "records"))
	case nameElsewhere > 0:
		s.note(verdictWarn, "%s with the name not under name (read from group_name)", plural(nameElsewhere, "record", "records"))
	default:
		s.note(verdictOK, "names under name")
	}
	if noStatus > 0 {
		s.note(verdictWarn, "%s without status: read as enabled, so a disabled group would look enabled", plural(noStatus, "record", "records"))
	}
	if len(statusKinds) > 0 {
		values := slices.Sorted(maps.Keys(statusValues))
		v := verdictOK
		if len(statusKinds) > 1 || !statusKinds["number"] || slices.ContainsFunc(values, func(x string) bool { return x != "0" && x != "1" }) {
			v = verdictWarn // GROUP_API.md: the numbers 1 and 0; others are read as 1/true/active/yes = enabled
		}
		s.note(v, "status %s (%s)", strings.Join(values, "/"), kinds(statusKinds))
	}
}

// userIDs are the distinct user_id values of group records.
func userIDs(recs []groupapi.Record) []string {
	set := map[string]bool{}
	for _, rec := range recs {
		if u := groupapi.GroupFromRecord(rec).UserID; u != "" {
			set[u] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// checkRelationAnswer checks a successful getGroupAgentRelation answer
// for group id: groupData, relationData (what the operator reads members
// and receivers from) and agentData (which it does not read). It returns
// the number of relation records seen.
func checkRelationAnswer(body []byte, id string) (s shape, relations int) {
	var resp groupapi.Record
	if err := json.Unmarshal(answerFields(body)["response"], &resp); err != nil {
		s.note(verdictFail, "response is not an object")
		return s, 0
	}
	switch groups, form, err := groupapi.Records(resp["groupData"]); {
	case err != nil || len(groups) == 0:
		s.note(verdictFail, "groupData is a %s the operator cannot read", jsonKind(resp["groupData"]))
	case form.Kind == groupapi.RecordsSingle:
		s.note(verdictOK, "groupData an object")
	default:
		s.note(verdictWarn, "groupData a list of %d (GROUP_API.md: one record; the operator reads the first)", len(groups))
	}

	raw, ok := resp["relationData"]
	if !ok {
		s.note(verdictFail, "no relationData: the operator would read every group as having no members and assign them again on every check")
		return s, 0
	}
	rels, form, err := groupapi.Records(raw)
	if err != nil {
		s.note(verdictFail, "relationData is a %s the operator cannot read", jsonKind(raw))
		return s, 0
	}
	if form.Kind == groupapi.RecordsList || form.Kind == groupapi.RecordsNone {
		s.note(verdictOK, "relationData[%d]", len(rels))
	} else {
		s.note(verdictWarn, "relationData not a list (%s %s; the operator reads it)", form.Kind, form.Key)
	}
	if agents, ok := resp["agentData"]; ok {
		recs, _, _ := groupapi.Records(agents)
		s.note(verdictOK, "agentData[%d]", len(recs))
	} else {
		s.note(verdictOK, "no agentData (the operator does not read it)")
	}
	checkRelationRecords(&s, rels, id)
	return s, len(rels)
}

// checkRelationRecords checks what the operator reads from each relation
// record: agent_unique_id, receive_call, and group_id (records of another
// group are ignored).
func checkRelationRecords(s *shape, rels []groupapi.Record, id string) {
	rcKinds, rcValues := map[string]bool{}, map[string]bool{}
	var noAgent, noReceive, otherGroup int
	for _, rec := range rels {
		if _, gid := groupapi.GroupIDOf(rec); gid != "" && gid != id {
			otherGroup++
		}
		if jsonKind(rec["agent_unique_id"]) == "absent" {
			noAgent++
		}
		rc, ok := rec["receive_call"]
		if !ok {
			noReceive++
			continue
		}
		rcKinds[jsonKind(rc)] = true
		rcValues[strings.Trim(string(bytes.TrimSpace(rc)), `"`)] = true
	}
	if noAgent > 0 {
		s.note(verdictFail, "%s without agent_unique_id: the operator cannot see those members", plural(noAgent, "relation record", "relation records"))
	}
	if noReceive > 0 {
		s.note(verdictFail, "%s without receive_call: read as 0, so the operator would assign the receivers again on every check", plural(noReceive, "relation record", "relation records"))
	}
	if otherGroup > 0 {
		s.note(verdictWarn, "%s for another group_id (ignored)", plural(otherGroup, "relation record", "relation records"))
	}
	if len(rcKinds) > 0 {
		values := slices.Sorted(maps.Keys(rcValues))
		v := verdictOK
		if len(rcKinds) > 1 || !rcKinds["number"] || slices.ContainsFunc(values, func(x string) bool { return x != "0" && x != "1" }) {
			v = verdictWarn
		}
		s.note(v, "receive_call %s (%s)", strings.Join(values, "/"), kinds(rcKinds))
	} else if len(rels) == 0 {
		s.note(verdictOK, "receive_call not seen (no member)")
	}
}

// checkErrorAnswer describes an error answer's envelope beyond its code
// and message: GROUP_API.md's is {"status": "error", "message", "code": a
// number}.
func checkErrorAnswer(body []byte) (s shape) {
	top := answerFields(body)
	if k := jsonKind(top["code"]); k != "number" {
		s.note(verdictOK, "code a %s (the operator reads it)", k)
	}
	if jsonKind(top["message"]) == "absent" {
		s.note(verdictOK, "no message")
	}
	return s
}
