package plugin

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestObjectName(t *testing.T) {
	long := strings.Repeat("Customer Escalations ", 5)[:96]
	cases := map[string]struct {
		name, id string
		want     string
	}{
		"spaces and case":           {name: "  Sales   Team ", id: "12", want: "sales-team-12"},
		"the API's twin":            {name: "sales team 1", id: "13", want: "sales-team-1-13"},
		"accents":                   {name: "Équipe Ventes São Paulo", id: "7", want: "equipe-ventes-sao-paulo-7"},
		"letters NFKD keeps whole":  {name: "Größe Ærø Łódź Þór", id: "8", want: "grosse-aero-lodz-thor-8"},
		"compatibility forms":       {name: "ＡＢＣ ﬁle №5", id: "9", want: "abc-file-no5-9"},
		"CJK only":                  {name: "销售团队", id: "21", want: "group-21"},
		"CJK and latin":             {name: "客服 Support 团队", id: "22", want: "support-22"},
		"hangul and kana":           {name: "지원팀 サポート", id: "23", want: "group-23"},
		"emoji only":                {name: "🔥🔥🔥", id: "24", want: "group-24"},
		"emoji inside":              {name: "Calls ☎️ Team 🚀", id: "25", want: "calls-team-25"},
		"punctuation":               {name: "R&D / Ops (EU)", id: "26", want: "r-d-ops-eu-26"},
		"dots and underscores":      {name: "a.b_c", id: "27", want: "a-b-c-27"},
		"leading digits":            {name: "2024 Q1 Campaign", id: "28", want: "2024-q1-campaign-28"},
		"digits only":               {name: "007", id: "29", want: "007-29"},
		"leading and trailing dash": {name: "-dash-first-", id: "30", want: "dash-first-30"},
		"only punctuation":          {name: "--- ...", id: "31", want: "group-31"},
		"tab and quotes":            {name: "Tab\t\"q\" 'a'", id: "32", want: "tab-q-a-32"},
		"100 characters":            {name: long + "AAAA", id: "33", want: "customer-escalations-customer-escalations-customer-escalatio-33"},
		"100 characters, other end": {name: long + "AAAB", id: "34", want: "customer-escalations-customer-escalations-customer-escalatio-34"},
		"cut at a separator":        {name: strings.Repeat("abcdefghi ", 10), id: "12", want: strings.Repeat("abcdefghi-", 6) + "12"},
		"100 accented letters":      {name: strings.Repeat("É", 100), id: "35", want: strings.Repeat("e", 60) + "-35"},
		"id that is not a number":   {name: "Sales", id: "AB_cd", want: "sales-x" + idDigest("AB_cd")},
		"64-character id":           {name: "Sales", id: strings.Repeat("9", 64), want: "sales-x" + idDigest(strings.Repeat("9", 64))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := objectName(tc.name, tc.id)
			if got != tc.want {
				t.Errorf("objectName(%q, %q) = %q, want %q", tc.name, tc.id, got, tc.want)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("%q is not a DNS-1123 label: %v", got, errs)
			}
		})
	}
}

func idDigest(id string) string { return idInName(id)[1:] }

// Names that differ only in case, punctuation or script, and the twins
// the API makes, still get a name each: the id tells them apart.
func TestObjectNamesAreUnique(t *testing.T) {
	names := []string{"Sales Team", "sales team", "SALES TEAM", "Sales-Team", "sales_team!", "销售", "销售团队", "🔥", "", "Sales Team 1"}
	seen := map[string]string{}
	for i, n := range names {
		id := fmt.Sprint(i + 1)
		got := objectName(n, id)
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both named %q", other, n, got)
		}
		seen[got] = n
		if again := objectName(n, id); again != got {
			t.Errorf("objectName(%q) is %q, then %q", n, got, again)
		}
	}
}
