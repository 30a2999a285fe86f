package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"k8s.io/apimachinery/pkg/util/validation"
)

// objectName is the metadata.name import gives the AgentGroup of remote
// group id named name: "<name as a slug>-<id>", a DNS-1123 label of at
// most 63 characters. The slug is for people; the id makes the name
// unique and stable, since names that differ only in case, punctuation or
// a script the slug cannot show ("Sales", "sales!", "销售") give the same
// slug. "group-<id>" when nothing of the name is left.
func objectName(name, id string) string {
	suffix := idInName(id)
	slug := slugOf(name, validation.DNS1123LabelMaxLength-len(suffix)-1)
	if slug == "" {
		return "group-" + suffix
	}
	return slug + "-" + suffix
}

// plainID is a group id that can go into a name as it is: the API's ids
// are numbers.
var plainID = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// idInName is the id as it appears in a name. An id that is not a short
// lowercase alphanumeric string (spec.groupId also allows capitals, '_'
// and 64 characters) is replaced by a digest, so that two ids never share
// a name.
func idInName(id string) string {
	if plainID.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "x" + hex.EncodeToString(sum[:6])
}

// slugOf folds name to lowercase ASCII letters and digits, accents
// removed, every run of anything else one '-', trimmed, at most max
// characters.
func slugOf(name string, max int) string {
	var folded strings.Builder
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r): // an accent, split from its letter by NFKD
		case latinFolds[r] != "":
			folded.WriteString(latinFolds[r])
		default:
			folded.WriteRune(unicode.ToLower(r))
		}
	}
	var slug strings.Builder
	gap := false
	for _, c := range []byte(folded.String()) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if gap && slug.Len() > 0 {
				slug.WriteByte('-')
			}
			slug.WriteByte(c)
			gap = false
		} else {
			gap = true
		}
	}
	s := slug.String()
	if len(s) > max {
		s = s[:max]
	}
	return strings.TrimRight(s, "-")
}

// latinFolds are the Latin letters NFKD does not split into a base letter
// and an accent.
var latinFolds = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'ı': "i",
}
