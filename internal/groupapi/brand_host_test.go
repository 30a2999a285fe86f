package groupapi_test

import (
	"errors"
	"testing"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Plain http:// needs AllowInsecureLoopback, and even then only to
// loopback.
func TestPlainHTTPNeedsAllowInsecureLoopback(t *testing.T) {
	creds := groupapi.Credentials{UserID: user, Token: token}
	for _, tc := range []struct {
		url      string
		allow    bool
		ok       bool
		loopback bool // refused only for want of AllowInsecureLoopback
	}{
		{"http://127.0.0.1:8080", false, false, true},
		{"http://[::1]:8080", false, false, true},
		{"http://localhost", false, false, true},
		{"http://127.0.0.1:8080", true, true, false},
		{"http://localhost", true, true, false},
		{"https://ctv3-dev.sarv.com", false, true, false},
		{"http://ctv3-dev.sarv.com", true, false, false},
		{"ftp://x", true, false, false},
	} {
		_, err := groupapi.New(groupapi.Options{BaseURL: tc.url, Credentials: creds, AllowInsecureLoopback: tc.allow})
		var be *groupapi.BaseURLError
		switch {
		case (err == nil) != tc.ok:
			t.Errorf("New(%s, allow %v): %v, want ok=%v", tc.url, tc.allow, err, tc.ok)
		case err != nil && (!errors.As(err, &be) || be.InsecureLoopback != tc.loopback):
			t.Errorf("New(%s, allow %v): %#v, want a BaseURLError with InsecureLoopback %v", tc.url, tc.allow, err, tc.loopback)
		}
	}
}
