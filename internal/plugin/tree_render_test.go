package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var updateTreeGolden = flag.Bool("update", false, "rewrite testdata/tree/*.golden from the output")

// treeNow is the moment the fixtures' ages are counted from.
var treeNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestTreeGolden reads the objects of a fixture through loadTree, as the
// command does, renders them at treeNow and compares with the golden file.
func TestTreeGolden(t *testing.T) {
	cases := map[string]struct {
		fixture string
		scope   treeScope
		arg     string
		color   bool
	}{
		"mixed":           {fixture: "mixed.yaml", scope: treeScope{Namespace: "team-a"}, arg: "default"},
		"color":           {fixture: "mixed.yaml", scope: treeScope{Namespace: "team-a"}, arg: "default", color: true},
		"cluster-account": {fixture: "cluster-account.yaml", scope: treeScope{AllNamespaces: true}, arg: "clusteraccount/shared"},
		"missing-account": {fixture: "missing-account.yaml", scope: treeScope{Namespace: "team-c"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, readFixture(t, filepath.Join("testdata", "tree", tc.fixture))...)
			nodes, err := loadTree(context.Background(), c, tc.scope, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := renderTree(&out, nodes, treeNow, treeStyle{Color: tc.color, Width: treeWidth}); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "tree", name+".golden")
			if *updateTreeGolden {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("tree output (-%s +got):\n%s", golden, diff)
			}
		})
	}
}

// readFixture decodes the objects of a multi-document YAML file.
func readFixture(t *testing.T, path string) []client.Object {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var objs []client.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		objs = append(objs, obj.(client.Object))
	}
}

func fakeClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func TestTreeStyle(t *testing.T) {
	cases := map[string]struct {
		terminal, noColorFlag bool
		width                 int
		noColorEnv            string
		want                  treeStyle
	}{
		"a pipe":                 {width: 0, want: treeStyle{Width: treeWidth}},
		"a terminal":             {terminal: true, width: 200, want: treeStyle{Color: true, Width: 200}},
		"a terminal, --no-color": {terminal: true, noColorFlag: true, width: 80, want: treeStyle{Width: 80}},
		"a terminal, NO_COLOR=1": {terminal: true, noColorEnv: "1", width: 80, want: treeStyle{Width: 80}},
		"a terminal, NO_COLOR=":  {terminal: true, width: 80, want: treeStyle{Color: true, Width: 80}},
		"no width known":         {terminal: true, want: treeStyle{Color: true, Width: treeWidth}},
	}
	for name, tc := range cases {
		if got := treeStyleFor(tc.terminal, tc.width, tc.noColorFlag, tc.noColorEnv); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}
