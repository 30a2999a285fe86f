// Package groupapi is the client of the DeepCall Group API (V2.0): one
// method per endpoint, typed requests and answers, errors classified as not
// found, terminal or retryable, a per-client rate limit, and metrics. It
// never logs and never puts a credential in an error.
package groupapi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Credentials authenticate every request: a session id, or a user id and
// token. Never both.
type Credentials struct {
	SSID   string
	UserID string
	Token  string
}

// Validate reports whether exactly one form of credentials is complete.
func (c Credentials) Validate() error {
	hasSSID := c.SSID != ""
	hasPair := c.UserID != "" || c.Token != ""
	switch {
	case hasSSID && hasPair:
		return errors.New("credentials hold both ssid and userId/token: keep one form")
	case hasSSID:
		return nil
	case c.UserID != "" && c.Token != "":
		return nil
	case hasPair:
		return errors.New("credentials need both userId and token")
	}
	return errors.New("credentials need ssid, or userId and token")
}

// CredentialsFromSecret reads the keys of a credentials Secret (its name
// and data). Errors name keys, never values.
func CredentialsFromSecret(name string, data map[string][]byte) (Credentials, error) {
	c := Credentials{SSID: string(data["ssid"]), UserID: string(data["userId"]), Token: string(data["token"])}
	if err := c.Validate(); err != nil {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return Credentials{}, fmt.Errorf("Secret %s must hold either the key ssid, or the keys userId and token (non-empty); it holds [%s]", name, strings.Join(keys, ", "))
	}
	return c, nil
}

// String redacts the secrets, so a credential printed by mistake leaks
// nothing but the user id.
func (c Credentials) String() string {
	if c.SSID != "" {
		return "ssid:<redacted>"
	}
	return fmt.Sprintf("userId:%s token:<redacted>", c.UserID)
}

// GoString redacts too (fmt's %#v).
func (c Credentials) GoString() string { return c.String() }

// Operation names an endpoint: the last path segment.
type Operation string

const (
	OpAdd                      Operation = "add"
	OpUpdate                   Operation = "update"
	OpDelete                   Operation = "delete"
	OpList                     Operation = "list"
	OpGetGroupAgentRelation    Operation = "getGroupAgentRelation"
	OpSubmitAssignGroupToAgent Operation = "submitAssignGroupToAgent"
)

// Operations lists every endpoint.
var Operations = []Operation{OpAdd, OpUpdate, OpDelete, OpList, OpGetGroupAgentRelation, OpSubmitAssignGroupToAgent}

// Group is one remote group record.
type Group struct {
	ID         string
	Name       string
	Enabled    bool // status 1
	UserID     string
	CreateDate string
}

// GroupDetail is a group with its agents.
type GroupDetail struct {
	Group     Group
	Members   []string // sorted, deduplicated
	Receivers []string // members with receive_call 1; sorted, deduplicated
}

// ListOptions filter a list call; zero values are the API's defaults.
type ListOptions struct {
	Name    string // case-insensitive substring
	GroupID string
	Forward bool
	Quick   bool
}

// UpdateRequest renames and/or enables or disables a group. Both fields are
// always sent: the API's status defaults to 1, which would re-enable a
// disabled group on a rename.
type UpdateRequest struct {
	GroupID string
	Name    string
	Enabled bool
}

// AssignRequest sets a group's whole membership: the API replaces it.
type AssignRequest struct {
	GroupID   string
	Members   []string
	Receivers []string
}

// Interface is the Group API, for callers that take a fake in tests.
type Interface interface {
	Add(ctx context.Context, name string) (groupID string, err error)
	Update(ctx context.Context, req UpdateRequest) error
	Delete(ctx context.Context, groupID string) error
	List(ctx context.Context, opts ListOptions) ([]Group, error)
	GetGroupAgentRelation(ctx context.Context, groupID string) (GroupDetail, error)
	SubmitAssignGroupToAgent(ctx context.Context, req AssignRequest) error
}
