package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

const (
	// absentOffset puts the probe id far above every listed id.
	absentOffset = 1_000_000_000
	// relationTries bounds the listed groups read to find one with
	// members (whose relation records can then be checked).
	relationTries = 3
	// probeName is what the update probe sends as the name, for a group
	// that does not exist.
	probeName = "kubectl-agentgroup doctor probe"
)

// checkReadsAndWrites reads listed groups with their agents, then a group
// id no listing shows: it must answer 1503. With probeWrites, and only
// once it has, the write endpoints are probed with that id, where a
// correct API changes nothing; without, a line per write endpoint says
// how to check it.
func (d *apiDoctor) checkReadsAndWrites(ctx context.Context, r *report, listed []groupapi.Group, permitted bool) {
	reads, writes := r.section(sectionReads), r.section(sectionWrites)
	d.checkListedRelations(ctx, reads, listed)

	absent := absentID(listed)
	check := fmt.Sprintf("getGroupAgentRelation %s (absent)", absent)
	proven := false
	if !d.skipped(reads, check) {
		e, err := d.call(ctx, func(ctx context.Context) error {
			_, err := d.client.GetGroupAgentRelation(ctx, absent)
			return err
		})
		proven = d.judgeAbsentRead(reads, check, e, err)
	}

	// How the operator confirms a 1503: a listing filtered by groupid.
	check = fmt.Sprintf("list groupid %s (absent)", absent)
	switch {
	case d.skipped(reads, check):
	case !permitted:
		reads.add(verdictSkip, check, "not checked: the operator lists with forward: false, which needs AGENT_TO_AGENT_CALL")
	default:
		var groups []groupapi.Group
		e, err := d.call(ctx, func(ctx context.Context) (err error) {
			groups, err = d.client.List(ctx, groupapi.ListOptions{GroupID: absent, Quick: true})
			return err
		})
		judgeFilteredList(reads, check, absent, e, err, groups)
	}

	probes := []struct {
		op groupapi.Operation
		do func(context.Context) error
	}{
		{groupapi.OpUpdate, func(ctx context.Context) error {
			return d.client.Update(ctx, groupapi.UpdateRequest{GroupID: absent, Name: probeName, Enabled: true})
		}},
		{groupapi.OpDelete, func(ctx context.Context) error { return d.client.Delete(ctx, absent) }},
		{groupapi.OpSubmitAssignGroupToAgent, func(ctx context.Context) error {
			return d.client.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: absent})
		}},
	}
	for _, p := range probes {
		check := fmt.Sprintf("%s %s (absent)", p.op, absent)
		switch {
		case !d.probeWrites:
			writes.add(verdictSkip, string(p.op), "not checked: doctor is read-only; --probe-write-endpoints sends it for a group id that does not exist")
		case d.skipped(writes, check):
		case !proven:
			writes.add(verdictSkip, check, "not checked: the id was not proven absent (see getGroupAgentRelation)")
		default:
			e, err := d.call(ctx, p.do)
			d.judgeAbsentWrite(writes, check, p.op, e, err)
		}
	}
	writes.add(verdictSkip, string(groupapi.OpAdd), "not checked, it creates a group")
}

// checkListedRelations reads listed groups, in order, until one has
// members (at most relationTries): a line for each.
func (d *apiDoctor) checkListedRelations(ctx context.Context, s *section, listed []groupapi.Group) {
	if len(listed) == 0 {
		s.add(verdictSkip, "getGroupAgentRelation", "not checked on a listed group: no group listed")
		return
	}
	for _, g := range listed[:min(relationTries, len(listed))] {
		check := "getGroupAgentRelation " + g.ID
		if d.skipped(s, check) {
			return
		}
		var detail groupapi.GroupDetail
		e, err := d.call(ctx, func(ctx context.Context) (err error) {
			detail, err = d.client.GetGroupAgentRelation(ctx, g.ID)
			return err
		})
		if err != nil {
			v, msg := failure(e, err, "the operator could not read its groups' members")
			s.add(v, check, "%s", msg)
			return
		}
		shape, relations := checkRelationAnswer(e.Body, g.ID)
		if detail.Group.Name != g.Name || detail.Group.Enabled != g.Enabled {
			shape.note(verdictWarn, "groupData says %q enabled %v where the listing says %q enabled %v", detail.Group.Name, detail.Group.Enabled, g.Name, g.Enabled)
		}
		s.add(worse(verdictOK, shape.verdict), check, "%s, %s", answered(e, nil), shape)
		if relations > 0 || shape.verdict == verdictFail {
			return
		}
	}
}

// absentID is a group id no listing shows: far above the largest
// numeric id listed.
func absentID(listed []groupapi.Group) string {
	var top int64
	for _, g := range listed {
		if n, err := strconv.ParseInt(g.ID, 10, 64); err == nil && n > top {
			top = n
		}
	}
	return strconv.FormatInt(top+absentOffset, 10)
}

// judgeAbsentRead judges getGroupAgentRelation of the absent id: 1503,
// with HTTP 200 or 4xx. It reports whether the id is proven absent.
func (d *apiDoctor) judgeAbsentRead(s *section, check string, e groupapi.Exchange, err error) bool {
	switch {
	case groupapi.IsNotFound(err):
		s.add(verdictOK, check, "%s", notFoundLine(e, err))
		return true
	case err == nil:
		s.add(verdictFail, check, "%s for a group id no listing shows: the operator could not tell that a group was deleted by hand", answered(e, nil))
	default:
		v, msg := failure(e, err, "GROUP_API.md says 1503: the operator would not see that a group was deleted by hand")
		s.add(v, check, "%s", msg)
	}
	return false
}

// notFoundLine describes a 1503 answer: its message, its HTTP status
// and the envelope's oddities.
func notFoundLine(e groupapi.Exchange, err error) string {
	line := answered(e, err)
	if notes := checkErrorAnswer(e.Body); len(notes.notes) > 0 {
		line += ", " + notes.String()
	}
	if e.HTTPStatus != 200 {
		line += fmt.Sprintf(" (errors come with HTTP %d: the operator judges by the body)", e.HTTPStatus)
	}
	return line
}

// judgeFilteredList judges a listing filtered by the absent id: no
// record of it (GROUP_API.md: an unknown groupid gives an empty list).
func judgeFilteredList(s *section, check, absent string, e groupapi.Exchange, err error, groups []groupapi.Group) {
	others := 0
	for _, g := range groups {
		if g.ID == absent {
			s.add(verdictFail, check, "%s, listing the absent id: the operator would never take a group for deleted by hand", answered(e, nil))
			return
		}
		others++
	}
	switch {
	case err != nil:
		v, msg := failure(e, err, "the operator confirms a 1503 with this listing before taking a group for deleted by hand")
		s.add(v, check, "%s", msg)
	case others > 0:
		s.add(verdictWarn, check, "%s, %d other groups: the groupid filter is ignored (the operator looks for the id among them)", answered(e, nil), others)
	default:
		s.add(verdictOK, check, "%s, no record", answered(e, nil))
	}
}

// judgeAbsentWrite judges a write endpoint's answer for the absent id:
// 1503, in the documented envelope, and nothing changed.
func (d *apiDoctor) judgeAbsentWrite(s *section, check string, op groupapi.Operation, e groupapi.Exchange, err error) {
	var ae *groupapi.APIError
	errors.As(err, &ae)
	switch {
	case groupapi.IsNotFound(err):
		s.add(verdictOK, check, "%s", notFoundLine(e, err))
	case err == nil:
		s.add(verdictFail, check, "%s for a group that does not exist: the operator could not trust what a write answers", answered(e, nil))
	case groupapi.IsPermissionDenied(err) && op == groupapi.OpSubmitAssignGroupToAgent:
		s.add(verdictFail, check, "%s: the user lacks the AGENT_TO_AGENT_CALL permission, which assignments need: grant it to %s in DeepCall", answered(e, err), d.userName())
	case groupapi.IsPermissionDenied(err):
		s.add(verdictFail, check, "%s: the credentials may not change groups, so the operator could not rename, disable or delete any", answered(e, err))
	case ae != nil && (ae.Code == groupapi.CodeGroupIDRequired || ae.Code == groupapi.CodeNameRequired):
		s.add(verdictFail, check, "%s: the API did not read the fields as the operator sends them (GROUP_API.md: 1503)", answered(e, err))
	case ae != nil && (ae.Code == groupapi.CodeInvalidParameters || ae.Code == groupapi.CodeInvalidData || ae.Code == groupapi.CodeGeneric):
		s.add(verdictWarn, check, "%s: GROUP_API.md says 1503; the API may check the request before looking the group up, so this does not tell", answered(e, err))
	default:
		v, msg := failure(e, err, "GROUP_API.md says 1503: the operator would not see that a group was deleted by hand")
		s.add(v, check, "%s", msg)
	}
}
