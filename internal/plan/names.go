package plan

import (
	"strings"
	"unicode"
)

// SameName compares group names as the API does, case-insensitively
// (GROUP_API.md: the safe reading).
func SameName(a, b string) bool { return strings.EqualFold(a, b) }

// IsTwin reports whether remote is the desired name with a number the API
// appended to make it unique: "Sales 2", "Sales2", "Sales (2)", "Sales [2]",
// "Sales-2" or "Sales_2", compared case-insensitively. The number's format
// is unspecified, so nothing beyond "digits after the name, optionally
// separated or bracketed" is assumed.
func IsTwin(desired, remote string) bool {
	if len(remote) <= len(desired) || !SameName(remote[:len(desired)], desired) {
		return false
	}
	rest := remote[len(desired):]
	rest = strings.TrimLeft(rest, " -_")
	switch {
	case strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")"):
		rest = rest[1 : len(rest)-1]
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		rest = rest[1 : len(rest)-1]
	}
	if rest == "" {
		return false
	}
	for _, r := range rest {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// Candidates splits remote groups into those named exactly like desired
// (case-insensitively) and its twins, both in input order.
func Candidates(desired string, groups []Remote) (exact, twins []Remote) {
	for _, g := range groups {
		switch {
		case SameName(g.Name, desired):
			exact = append(exact, g)
		case IsTwin(desired, g.Name):
			twins = append(twins, g)
		}
	}
	return exact, twins
}
