package groupapi

import (
	"errors"
	"testing"
)

// FuzzDecodeResponse feeds arbitrary answers to every decoder: they must
// never panic, and must give either a classified *APIError or a value.
func FuzzDecodeResponse(f *testing.F) {
	for _, seed := range []string{
		`{"status":"success","groupId":12,"code":200}`,
		`{"status":"success","response":[{"group_id":12,"name":"Sales","status":1}],"code":200}`,
		`{"status":"success","response":{"groupData":{"name":"S"},"agentData":[],"relationData":[{"group_id":1,"agent_unique_id":"1001","receive_call":1}]},"code":200}`,
		`{"status":"error","message":"Group not found","code":1503}`,
		`<html>502</html>`, ``, `{"status":`, `{"status":"success","response":{"a":[1,2]}}`, `null`, `[]`,
	} {
		f.Add([]byte(seed), 200)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		env, aerr := decodeEnvelope(OpList, status, body, redactor{"t0ken"})
		if aerr != nil {
			var e *APIError
			if !errors.As(error(aerr), &e) || Classify(aerr) == ClassSuccess {
				t.Fatalf("unclassified error %v", aerr)
			}
			return
		}
		_ = env.groupID()
		if groups, err := decodeGroups(env.Response); err == nil {
			for _, g := range groups {
				if g.ID == "" {
					t.Fatalf("group without id from %q", body)
				}
			}
		}
		_, _ = decodeDetail(env.Response, "1")
	})
}
