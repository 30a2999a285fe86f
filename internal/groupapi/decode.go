package groupapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envelope is the common answer: {"status": "success"|"error", "code",
// "message", "response", ...}. Fields are kept raw where the docs are loose.
type envelope struct {
	Status   string          `json:"status"`
	Message  string          `json:"message"`
	Code     json.RawMessage `json:"code"`
	Response json.RawMessage `json:"response"`
	GroupID  json.RawMessage `json:"groupId"`

	httpStatus int
}

// groupID finds add's id: top level, or inside response.
func (e envelope) groupID() string {
	if id := flexString(e.GroupID); id != "" {
		return id
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(e.Response, &inner) == nil {
		return firstID(inner)
	}
	return flexString(e.Response)
}

// decodeEnvelope judges an answer by its body, never by the HTTP status
// alone: an error body may come with 200 or with 4xx/5xx, and a body that
// is not the API's JSON (a proxy's HTML page) is a retryable failure.
func decodeEnvelope(op Operation, httpStatus int, raw []byte, red redactor) (envelope, *APIError) {
	var env envelope
	if err := json.Unmarshal(bytes.TrimSpace(raw), &env); err != nil || env.Status == "" {
		return envelope{}, decodeError(op, httpStatus, raw, red)
	}
	env.httpStatus = httpStatus
	if strings.EqualFold(env.Status, "success") {
		if httpStatus >= 300 {
			return envelope{}, &APIError{Op: op, HTTPStatus: httpStatus, Message: "success body with HTTP status " + strconv.Itoa(httpStatus)}
		}
		return env, nil
	}
	return envelope{}, decodeError(op, httpStatus, raw, red)
}

// decodeError turns a failed answer into an APIError.
func decodeError(op Operation, httpStatus int, raw []byte, red redactor) *APIError {
	var env envelope
	if err := json.Unmarshal(bytes.TrimSpace(raw), &env); err == nil && env.Status != "" {
		code, _ := strconv.Atoi(flexString(env.Code))
		msg := red.text(env.Message)
		if msg == "" {
			msg = "error answer without a message"
		}
		return &APIError{Op: op, HTTPStatus: httpStatus, Code: code, Message: msg}
	}
	return &APIError{Op: op, HTTPStatus: httpStatus, Message: "unexpected answer: " + snippet(raw, red)}
}

// snippet shows the start of a body that is not the API's, as one line.
func snippet(raw []byte, red redactor) string {
	s := red.text(strings.Join(strings.Fields(string(raw)), " "))
	if s == "" {
		return "empty body"
	}
	return fmt.Sprintf("%q", s)
}

// maxBodyText is how much of a body's text an error keeps.
const maxBodyText = 256

// redactor holds the credential values (token, ssid) that must never leave
// in an error: a service or proxy that echoes the request would put them
// in status conditions and events.
type redactor []string

// newRedactor redacts each secret as sent and as an echo may spell it
// again: JSON-escaped (json.Marshal escapes <, > and &), quoted by a
// proxy into a URL or form.
func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		if s == "" {
			continue
		}
		quoted, _ := json.Marshal(s)
		for _, form := range []string{s, string(quoted[1 : len(quoted)-1]), url.QueryEscape(s), url.PathEscape(s)} {
			if !slices.Contains(r, form) {
				r = append(r, form)
			}
		}
	}
	return r
}

// all is s with every credential replaced by "[redacted]".
func (r redactor) all(s string) string {
	for _, secret := range r {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// text is s redacted (all), then cut to maxBodyText bytes (on a rune
// boundary, marked "…"). Redacting first, a cut never leaves part of a
// credential.
func (r redactor) text(s string) string {
	s = r.all(s)
	if len(s) <= maxBodyText {
		return s
	}
	cut := maxBodyText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// flexString reads a JSON string or number as a string ("" otherwise).
func flexString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return strconv.FormatInt(i, 10)
		}
		return n.String()
	}
	return ""
}

// flexBool reads 1/0, "1"/"0", true/false.
func flexBool(raw json.RawMessage) bool {
	switch strings.ToLower(flexString(raw)) {
	case "1", "true", "active", "yes":
		return true
	}
	var b bool
	return json.Unmarshal(raw, &b) == nil && b
}

// Record is one record of an answer, its fields kept raw.
type Record = map[string]json.RawMessage

// GroupIDOf finds a record's group id and the key it is under: group_id
// (GROUP_API.md), or groupId, groupid or id; "" when none holds one.
func GroupIDOf(rec Record) (key, id string) {
	for _, k := range []string{"group_id", "groupId", "groupid", "id"} {
		if id := flexString(rec[k]); id != "" {
			return k, id
		}
	}
	return "", ""
}

func firstID(rec Record) string {
	_, id := GroupIDOf(rec)
	return id
}

// RecordsForm says how a response held its records.
type RecordsForm struct {
	Kind RecordsKind
	// Key wraps the list (RecordsWrapped).
	Key string
}

// RecordsKind is the form of a response's records.
type RecordsKind string

const (
	RecordsNone    RecordsKind = "none"    // empty or null
	RecordsList    RecordsKind = "list"    // the response is the list (GROUP_API.md)
	RecordsWrapped RecordsKind = "wrapped" // an object wrapping the list under Key
	RecordsSingle  RecordsKind = "single"  // the response is one record
)

// Records finds the records in a response: the list itself, the one list
// an object wraps, or a single record. Every answer's records are read
// this way.
func Records(raw json.RawMessage) ([]Record, RecordsForm, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, RecordsForm{Kind: RecordsNone}, nil
	}
	var list []Record
	if json.Unmarshal(raw, &list) == nil {
		return list, RecordsForm{Kind: RecordsList}, nil
	}
	var obj Record
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, RecordsForm{}, errors.New("response is neither a list nor an object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if json.Unmarshal(obj[k], &list) == nil {
			return list, RecordsForm{Kind: RecordsWrapped, Key: k}, nil
		}
	}
	if firstID(obj) != "" {
		return []Record{obj}, RecordsForm{Kind: RecordsSingle}, nil
	}
	return nil, RecordsForm{}, errors.New("response holds no list of records")
}

func records(raw json.RawMessage) ([]Record, error) {
	recs, _, err := Records(raw)
	return recs, err
}

// GroupFromRecord reads a group record as the client does: id (GroupIDOf),
// name (or group_name), status (absent: enabled, the API's default),
// user_id and create_date.
func GroupFromRecord(rec Record) Group { return groupFrom(rec) }

func groupFrom(rec Record) Group {
	g := Group{ID: firstID(rec), Name: flexString(rec["name"]), UserID: flexString(rec["user_id"]), CreateDate: flexString(rec["create_date"])}
	if g.Name == "" {
		g.Name = flexString(rec["group_name"])
	}
	if st, ok := rec["status"]; ok {
		g.Enabled = flexBool(st)
	} else {
		g.Enabled = true // the API's default
	}
	return g
}

func decodeGroups(raw json.RawMessage) ([]Group, error) {
	recs, err := records(raw)
	if err != nil {
		return nil, err
	}
	groups := make([]Group, 0, len(recs))
	for _, r := range recs {
		g := groupFrom(r)
		if g.ID == "" {
			return nil, errors.New("group record without an id")
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func decodeDetail(raw json.RawMessage, groupID string) (GroupDetail, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return GroupDetail{}, errors.New("relation response is not an object")
	}
	var d GroupDetail
	groups, err := records(obj["groupData"])
	if err != nil {
		return GroupDetail{}, fmt.Errorf("groupData: %w", err)
	}
	if len(groups) == 0 {
		var one map[string]json.RawMessage
		if json.Unmarshal(obj["groupData"], &one) == nil && len(one) > 0 {
			groups = append(groups, one)
		}
	}
	if len(groups) == 0 {
		return GroupDetail{}, errors.New("relation response without groupData")
	}
	d.Group = groupFrom(groups[0])
	if d.Group.ID == "" {
		d.Group.ID = groupID
	}
	rels, err := records(obj["relationData"])
	if err != nil {
		return GroupDetail{}, fmt.Errorf("relationData: %w", err)
	}
	members, receivers := map[string]bool{}, map[string]bool{}
	for _, r := range rels {
		if gid := firstID(r); gid != "" && gid != groupID {
			continue
		}
		agent := flexString(r["agent_unique_id"])
		if agent == "" {
			continue
		}
		members[agent] = true
		if flexBool(r["receive_call"]) {
			receivers[agent] = true
		}
	}
	d.Members, d.Receivers = sortedKeys(members), sortedKeys(receivers)
	return d, nil
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
