package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// checkListing checks that the credentials authenticate (list with
// forward: true, which needs no permission), that the user has the
// AGENT_TO_AGENT_CALL permission (list with forward: false, as the
// operator lists), the records' shape and the user they belong to. It
// returns the groups the operator's listing would see, whether the
// permission is there, and whether any listing worked (ok: the other
// checks can go on).
func (d *apiDoctor) checkListing(ctx context.Context, r *report) (listed []groupapi.Group, permitted, ok bool) {
	creds, perm := r.section(sectionCredentials), r.section(sectionPermission)
	var quick, full []groupapi.Group
	exQuick, errQuick := d.call(ctx, func(ctx context.Context) (err error) {
		quick, err = d.client.List(ctx, groupapi.ListOptions{Forward: true, Quick: true})
		return err
	})
	var exFull groupapi.Exchange
	var errFull error
	fullSent := d.stopped == "" && (errQuick == nil || groupapi.IsPermissionDenied(errQuick))
	if fullSent {
		exFull, errFull = d.call(ctx, func(ctx context.Context) (err error) {
			full, err = d.client.List(ctx, groupapi.ListOptions{Forward: false})
			return err
		})
	}
	quickOK, fullOK := errQuick == nil, fullSent && errFull == nil
	refused := groupapi.IsPermissionDenied(errQuick) && (!fullSent || groupapi.IsPermissionDenied(errFull))

	switch {
	case quickOK:
		s, _ := checkListAnswer(exQuick.Body)
		creds.add(worse(verdictOK, s.verdict), "list", "%s, %s", answered(exQuick, nil), s)
	case refused:
		creds.add(verdictFail, "list", "credentials refused: %s: fix the Secret's %s (the operator would stall the Account with Unauthorized)",
			answered(exQuick, errQuick), d.credentialKeys())
	case fullOK:
		creds.add(verdictWarn, "list", "with forward: true answered %s, yet with forward: false the credentials work (the operator never sends forward: true)",
			answered(exQuick, errQuick))
	default:
		v, msg := failure(exQuick, errQuick, "the operator could not list the account's groups")
		creds.add(v, "list", "%s", msg)
	}

	const check = "AGENT_TO_AGENT_CALL"
	switch {
	case fullOK:
		s, recs := checkListAnswer(exFull.Body)
		line := "list with forward: false answered " + answered(exFull, nil)
		if quickOK && len(quick) != len(full) {
			line += fmt.Sprintf(", %d groups (with forward: true %d; the operator lists with forward: false)", len(full), len(quick))
		}
		v := verdictOK
		if s.verdict != verdictOK {
			v, line = s.verdict, line+"; its records: "+s.String()
		}
		perm.add(v, check, "%s", line)
		if s.verdict == verdictFail {
			creds.add(verdictSkip, "user", "not checked: the listing's records could not be read")
		} else {
			d.checkUser(creds, recs)
		}
	case refused:
		d.stopped = "the credentials were refused"
		perm.add(verdictSkip, check, "not checked: %s", d.stopped)
	case !fullSent:
		if d.stopped == "" {
			d.stopped = "listing failed (see list)"
		}
		perm.add(verdictSkip, check, "not checked: %s", d.stopped)
	case groupapi.IsPermissionDenied(errFull):
		perm.add(verdictFail, check, "list with forward: false answered %s: the user lacks the AGENT_TO_AGENT_CALL permission, which the operator's listings and assignments need: grant it to %s in DeepCall (the operator would stall the Account with Unauthorized)",
			answered(exFull, errFull), d.userName())
	default:
		v, msg := failure(exFull, errFull, "the operator could not list the account's groups")
		perm.add(v, check, "list with forward: false answered %s", msg)
	}
	switch {
	case !fullOK && quickOK:
		creds.add(verdictSkip, "user", "not checked: the records' user_id comes with the listing without quick, which failed")
	case !fullOK && d.stopped != "":
		creds.add(verdictSkip, "user", "not checked: %s", d.stopped)
	case !fullOK:
		creds.add(verdictSkip, "user", "not checked: the listing failed")
	}
	switch {
	case fullOK:
		return full, true, true
	case quickOK:
		return quick, false, true
	}
	return nil, false, false
}

// credentialKeys names the Secret's keys in use.
func (d *apiDoctor) credentialKeys() string {
	if d.expect.UserID != "" {
		return "userId and token"
	}
	return "ssid"
}

func (d *apiDoctor) userName() string {
	if d.expect.UserID != "" {
		return "user " + d.expect.UserID
	}
	return "the ssid's user"
}

// checkUser compares the user_id the records carry with the credentials'
// userId and the Account's status.remoteAccount (which the operator
// derives from them).
func (d *apiDoctor) checkUser(s *section, recs []groupapi.Record) {
	users := userIDs(recs)
	recorded := d.expect.RemoteAccount
	switch {
	case len(recs) == 0:
		s.add(verdictOK, "user", "no group listed, so no user_id seen (%s)", d.remoteAccountSays())
	case len(users) == 0 && d.expect.UserID != "":
		s.add(verdictWarn, "user", "the records carry no user_id (GROUP_API.md: they do without quick); with userId credentials the operator does not need it")
	case len(users) == 0:
		s.add(verdictWarn, "user", "the records carry no user_id: with an ssid the operator cannot tell which user the credentials resolve to, so Accounts on the same user would not share its rate limit")
	case len(users) > 1:
		s.add(verdictWarn, "user", "the records carry several user_id values (%s): the operator takes the first as the account's user", strings.Join(users, ", "))
	case d.expect.UserID != "" && users[0] != d.expect.UserID:
		s.add(verdictWarn, "user", "the records' user_id %s is not the Secret's userId %s: the operator names the remote account after the userId", users[0], d.expect.UserID)
	case recorded == "":
		s.add(verdictOK, "user", "the records' user_id %s (%s)", users[0], d.remoteAccountSays())
	case recorded != (accounts.RemoteAccount{Host: accounts.HostOf(d.expect.BaseURL), User: users[0]}).String():
		s.add(verdictWarn, "user", "the records' user_id %s is not the Account's remoteAccount %s: the credentials now resolve to another user than the operator recorded (its AgentGroups would stop with AccountChanged)", users[0], recorded)
	default:
		s.add(verdictOK, "user", "the records' user_id %s is the Account's remoteAccount %s", users[0], recorded)
	}
}

func (d *apiDoctor) remoteAccountSays() string {
	if d.expect.RemoteAccount == "" {
		return "the Account has no status.remoteAccount yet: the operator has not checked it"
	}
	return "the Account's remoteAccount is " + d.expect.RemoteAccount
}
