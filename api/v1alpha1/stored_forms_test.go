package v1alpha1_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/history"
)

// storedDir holds, per landed version, the objects it stored
// (hack/stored, `make stored-testdata`).
var storedDir = filepath.Join("..", "..", "testdata", "stored")

// decoder reads objects as the manager's informers do.
func decoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := deepcallv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return serializer.NewCodecFactory(scheme).UniversalDeserializer()
}

// Every object any landed version stored decodes with today's types, its
// status whole, and a create it left in flight reads as an intent.
func TestStoredFormsDecode(t *testing.T) {
	dec := decoder(t)
	var captured []string
	for _, v := range history.Landed {
		dir := filepath.Join(storedDir, v.Commit)
		snap, err := history.ReadSnapshot(dir)
		if err != nil {
			t.Errorf("landed version %s: %v (capture it: make stored-testdata VERSIONS=%s)", v.Commit, err, v.Commit)
			continue
		}
		captured = append(captured, v.Commit)
		for _, o := range snap.Objects {
			if o.GroupVersionKind().Group != deepcallv1.GroupVersion.Group {
				continue
			}
			raw, err := o.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			name := v.Commit + " " + o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
			obj, _, err := dec.Decode(raw, nil, nil)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			var unreadable map[string]string
			switch obj := obj.(type) {
			case *deepcallv1.AgentGroup:
				unreadable = obj.Status.Unreadable
				if o.GetLabels()[history.StateLabel] == history.StatePendingCreate {
					p, err := obj.CreateIntent()
					if err != nil || p == nil || p.Name != obj.DesiredName() || p.StartedAt.IsZero() {
						t.Errorf("%s: create intent %+v, %v; want the add of %q with its time", name, p, err, obj.DesiredName())
					}
				}
			case *deepcallv1.Account:
				unreadable = obj.Status.Unreadable
			case *deepcallv1.ClusterAccount:
				unreadable = obj.Status.Unreadable
			}
			if len(unreadable) > 0 {
				t.Errorf("%s: unreadable %v", name, unreadable)
			}
		}
	}
	entries, err := os.ReadDir(storedDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(captured, e.Name()) {
			t.Errorf("testdata/stored/%s is no landed version (internal/history.Landed)", e.Name())
		}
	}
}

func TestPendingCreateReadsEveryForm(t *testing.T) {
	want := time.Date(2026, 11, 24, 21, 41, 28, 0, time.UTC)
	cases := map[string]struct {
		startedAt string
		want      time.Time
		err       string
	}{
		"to the second (the first version)":   {startedAt: `"2026-11-24T21:41:28Z"`, want: want},
		"to the microsecond (later versions)": {startedAt: `"2026-11-24T21:41:28.123456Z"`, want: want.Add(123456 * time.Microsecond)},
		"to the millisecond":                  {startedAt: `"2026-11-24T21:41:28.123Z"`, want: want.Add(123 * time.Millisecond)},
		"to the nanosecond":                   {startedAt: `"2026-11-24T21:41:28.123456789Z"`, want: want.Add(123456789)},
		"with an offset":                      {startedAt: `"2026-11-24T22:41:28+01:00"`, want: want},
		"in lower case (RFC 3339 allows it)":  {startedAt: `"2026-11-24t21:41:28z"`, want: want},
		"null":                                {startedAt: `null`},
		"not a time":                          {startedAt: `"yesterday"`, err: `startedAt: parsing time "yesterday"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var p deepcallv1.PendingCreate
			err := json.Unmarshal([]byte(`{"name":"Sales","knownGroupIds":["7"],"remoteAccount":"u1@h","startedAt":`+tc.startedAt+`}`), &p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.StartedAt.Time.Equal(tc.want) || p.Name != "Sales" || p.RemoteAccount != "u1@h" || !slices.Equal(p.KnownGroupIDs, []string{"7"}) {
				t.Errorf("read %+v, want startedAt %v and every other field", p, tc.want)
			}
		})
	}
}

// An intent is written to the microsecond, the form every version since
// the first one reads (its time type refuses fewer digits): a rollback
// finds it.
func TestPendingCreateIsWrittenToTheMicrosecond(t *testing.T) {
	p := deepcallv1.PendingCreate{Name: "Sales", StartedAt: metav1.NewMicroTime(time.Date(2026, 11, 24, 21, 41, 28, 0, time.UTC))}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"startedAt":"2026-11-24T21:41:28\.000000Z"`).Match(raw) {
		t.Errorf("written as %s", raw)
	}
}

// A status field this version cannot read (a later version's form, a
// value written by hand) fails neither the object nor the list: it is
// left out and named, and every other field is read.
func TestUnreadableStatusFieldIsNamed(t *testing.T) {
	dec := decoder(t)
	raw := `{"apiVersion":"deepcall.agentgroups.dev/v1alpha1","kind":"AgentGroupList","metadata":{},"items":[
	  {"apiVersion":"deepcall.agentgroups.dev/v1alpha1","kind":"AgentGroup","metadata":{"name":"odd","namespace":"a"},
	   "status":{"groupId":"12","members":"three","pendingCreate":{"name":"Sales","startedAt":"yesterday"},"conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"","lastTransitionTime":"2026-11-24T21:41:28Z"}]}},
	  {"apiVersion":"deepcall.agentgroups.dev/v1alpha1","kind":"AgentGroup","metadata":{"name":"fine","namespace":"a"},"status":{"groupId":"13","members":3}}]}`
	obj, _, err := dec.Decode([]byte(raw), nil, nil)
	if err != nil {
		t.Fatalf("one odd status fails the list: %v", err)
	}
	list := obj.(*deepcallv1.AgentGroupList)
	odd, fine := list.Items[0].Status, list.Items[1].Status
	if odd.GroupID != "12" || len(odd.Conditions) != 1 || odd.Members != 0 || odd.PendingCreate != nil {
		t.Errorf("readable fields lost or unreadable ones kept: %+v", odd)
	}
	if !strings.HasPrefix(odd.Unreadable["members"], "json: cannot unmarshal string") || !strings.HasPrefix(odd.Unreadable["pendingCreate"], `startedAt: parsing time "yesterday"`) || len(odd.Unreadable) != 2 {
		t.Errorf("unreadable: %q", odd.Unreadable)
	}
	if diff := cmp.Diff(deepcallv1.AgentGroupStatus{GroupID: "13", Members: 3}, fine); diff != "" {
		t.Errorf("a readable status (-want +got):\n%s", diff)
	}
	// Of the two, the create in flight is a fact no pass finds again.
	if msg := odd.UnreadableFacts(); !strings.HasPrefix(msg, `this version of the operator cannot read status.pendingCreate (startedAt: parsing time "yesterday"`) || strings.Contains(msg, "members") {
		t.Errorf("facts: %s", msg)
	}
	if msg := fine.UnreadableFacts(); msg != "" {
		t.Errorf("facts of a readable status: %s", msg)
	}
	var acct deepcallv1.AccountStatus
	if err := json.Unmarshal([]byte(`{"remoteAccount":"u1@h","effectiveSyncInterval":"ten minutes"}`), &acct); err != nil || acct.RemoteAccount != "u1@h" || len(acct.Unreadable) != 1 {
		t.Errorf("Account status: %+v, %v", acct, err)
	}
	if err := json.Unmarshal([]byte(`"not an object"`), &odd); err == nil {
		t.Error("a status that is no object was read")
	}
}

// decodeFields reads a status field by field through the fields' JSON
// names: a field without one (embedded, unnamed) would be left out of
// that reading without a word.
func TestStatusFieldsHaveJSONNames(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[deepcallv1.AgentGroupStatus](), reflect.TypeFor[deepcallv1.AccountStatus]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous || !f.IsExported() || name == "" {
				t.Errorf("%s.%s: every status field needs a JSON name of its own", typ.Name(), f.Name)
			}
		}
	}
}
