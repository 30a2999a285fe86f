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

// text is s with every credential replaced by "[redacted]", then cut to
// maxBodyText bytes (on a rune boundary, marked "…"). Redacting first, a
// cut never leaves part of a credential.
func (r redactor) text(s string) string {
	for _, secret := range r {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
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

func firstID(rec map[string]json.RawMessage) string {
	for _, k := range []string{"group_id", "groupId", "groupid", "id"} {
		if id := flexString(rec[k]); id != "" {
			return id
		}
	}
	return ""
}

// records finds the array of records in a response: the array itself, or
// the one array an object wraps.
func records(raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, errors.New("response is neither a list nor an object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if json.Unmarshal(obj[k], &list) == nil {
			return list, nil
		}
	}
	// A single record.
	if firstID(obj) != "" {
		return []map[string]json.RawMessage{obj}, nil
	}
	return nil, errors.New("response holds no list of records")
}

func groupFrom(rec map[string]json.RawMessage) Group {
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
