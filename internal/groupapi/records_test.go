package groupapi_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Records says how a response held its records, so a caller (the
// plugin's doctor) can report where a brand host differs from
// GROUP_API.md; GroupIDOf names the key the id was under.
func TestRecordsForm(t *testing.T) {
	cases := map[string]struct {
		raw    string
		form   groupapi.RecordsForm
		ids    []string
		idKeys []string
		err    bool
	}{
		"a list (GROUP_API.md)":  {raw: `[{"group_id":1,"name":"A"},{"group_id":"2","name":"B"}]`, form: groupapi.RecordsForm{Kind: groupapi.RecordsList}, ids: []string{"1", "2"}, idKeys: []string{"group_id", "group_id"}},
		"a list in an object":    {raw: `{"total":1,"groups":[{"id":7,"name":"A"}]}`, form: groupapi.RecordsForm{Kind: groupapi.RecordsWrapped, Key: "groups"}, ids: []string{"7"}, idKeys: []string{"id"}},
		"one record":             {raw: `{"groupId":"9","name":"A"}`, form: groupapi.RecordsForm{Kind: groupapi.RecordsSingle}, ids: []string{"9"}, idKeys: []string{"groupId"}},
		"null":                   {raw: `null`, form: groupapi.RecordsForm{Kind: groupapi.RecordsNone}},
		"absent":                 {raw: ``, form: groupapi.RecordsForm{Kind: groupapi.RecordsNone}},
		"a string":               {raw: `"none"`, err: true},
		"an object with no list": {raw: `{"name":"A"}`, err: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			recs, form, err := groupapi.Records(json.RawMessage(tc.raw))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			var ids, keys []string
			for _, r := range recs {
				k, id := groupapi.GroupIDOf(r)
				ids, keys = append(ids, id), append(keys, k)
				if g := groupapi.GroupFromRecord(r); g.ID != id || g.Name != "A" && g.Name != "B" {
					t.Errorf("GroupFromRecord %+v", g)
				}
			}
			if diff := cmp.Diff(tc.form, form); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
			if !cmp.Equal(tc.ids, ids) || !cmp.Equal(tc.idKeys, keys) {
				t.Errorf("ids %v under %v, want %v under %v", ids, keys, tc.ids, tc.idKeys)
			}
		})
	}
}
