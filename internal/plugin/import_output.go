package plugin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// write prints the manifests on stdout, a YAML stream or a v1 List in
// JSON, or writes one file per manifest into o.dir, a line on stderr for
// each.
func (o *importOptions) write(objs []*unstructured.Unstructured, streams genericiooptions.IOStreams) error {
	if o.dir == "" {
		p, err := genericclioptions.NewJSONYamlPrintFlags().ToPrinter(o.output)
		if err != nil {
			return err
		}
		if o.output == "json" {
			list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
			for _, obj := range objs {
				list.Items = append(list.Items, *obj)
			}
			return p.PrintObj(list, streams.Out)
		}
		for _, obj := range objs {
			// The YAML printer puts "---" before each object but the first.
			if err := p.PrintObj(obj, streams.Out); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	for _, obj := range objs {
		p, err := genericclioptions.NewJSONYamlPrintFlags().ToPrinter(o.output)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := p.PrintObj(obj, &buf); err != nil {
			return err
		}
		file := filepath.Join(o.dir, obj.GetName()+"."+o.output)
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(streams.ErrOut, "wrote", file)
	}
	return nil
}

// namesShown bounds the AgentGroups a summary names.
const namesShown = 3

// summarize says on stderr what import wrote, what it left out and why,
// and what to do next.
func (o *importOptions) summarize(w io.Writer, acct fmt.Stringer, res importResult) {
	policy := "managementPolicy Observe, deletionPolicy Orphan: they never change or delete a remote group"
	if o.manage {
		policy = "managementPolicy Manage, deletionPolicy Delete: the operator corrects drift, and deleting one deletes its remote group"
	}
	for _, r := range res.refused {
		fmt.Fprintf(w, "not imported: group %s %q: %v\n", r.id, r.name, r.err)
	}
	if len(res.gone) > 0 {
		fmt.Fprintf(w, "not imported: %s deleted since the account was listed: %s\n", plural(len(res.gone), "group", "groups"), strings.Join(res.gone, ", "))
	}
	skipped := ""
	if len(res.skipped) > 0 {
		var owners []string
		for i, m := range res.skipped {
			if i == namesShown {
				owners = append(owners, fmt.Sprintf("and %d more", len(res.skipped)-namesShown))
				break
			}
			owners = append(owners, fmt.Sprintf("%s (group %s)", m.owner, m.id))
		}
		skipped = strings.Join(owners, ", ")
	}
	switch {
	case len(res.objects) > 0:
	case res.listed == 0:
		fmt.Fprintf(w, "Nothing to import: %s has no group.\n", acct)
		return
	case len(res.skipped) == res.listed:
		fmt.Fprintf(w, "Nothing to import: AgentGroups already manage all %d groups of %s: %s. --all writes them anyway.\n", res.listed, acct, skipped)
		return
	default:
		fmt.Fprintf(w, "Nothing to import from the %d groups of %s", res.listed, acct)
		if len(res.skipped) > 0 {
			fmt.Fprintf(w, ": AgentGroups already manage %d of them: %s", len(res.skipped), skipped)
		}
		fmt.Fprintln(w, ".")
		return
	}
	fmt.Fprintf(w, "%s written for %d of the %d groups of %s (%s).\n",
		plural(len(res.objects), "AgentGroup", "AgentGroups"), len(res.objects), res.listed, acct, policy)
	if len(res.skipped) > 0 {
		fmt.Fprintf(w, "%s skipped because AgentGroups already manage them: %s. --all writes them too.\n", plural(len(res.skipped), "group", "groups"), skipped)
	}
	if o.dir != "" {
		fmt.Fprintf(w, "Next: kubectl apply -f %s\n", o.dir)
	} else {
		fmt.Fprintln(w, "Next: save the output to a file and kubectl apply -f it.")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
