package controllers

import (
	"context"
	"encoding/json"
	"maps"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// A create costs two writes to the API server: before the add, the
// finalizer and the intent in one metadata patch; after it, the id and the
// status in one status patch. The intent cannot go in the status: a status
// write cannot carry the finalizer, and the group must not exist one moment
// without either.

// pendingCreate is AgentGroup.CreateIntent for callers that treat an
// unreadable intent as pending.
func pendingCreate(g *deepcallv1.AgentGroup) bool {
	p, err := g.CreateIntent()
	return p != nil || err != nil
}

// recordIntent writes the finalizer and the create intent in one patch,
// locked to the version the pass read: two passes never both record one.
func (s *pass) recordIntent(ctx context.Context, p *deepcallv1.PendingCreate) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.patchMeta(ctx, func(g *deepcallv1.AgentGroup) {
		controllerutil.AddFinalizer(g, agentGroupFinalizer)
		if g.Annotations == nil {
			g.Annotations = map[string]string{}
		}
		g.Annotations[deepcallv1.AnnotationCreateIntent] = string(raw)
	})
}

// settleIntent records that the intent made no group (or that its group
// is gone): a later lookup must not take a group of that name for ours.
func (s *pass) settleIntent(ctx context.Context) error {
	s.g.Status.PendingCreate = nil
	if _, ok := s.g.Annotations[deepcallv1.AnnotationCreateIntent]; !ok {
		return nil
	}
	return s.patchMeta(ctx, func(g *deepcallv1.AgentGroup) { delete(g.Annotations, deepcallv1.AnnotationCreateIntent) })
}

// patchMeta changes the AgentGroup's metadata in one patch, locked to the
// version the pass holds. The status the pass is building is left alone
// (the answer to a patch of the object carries the stored status).
func (s *pass) patchMeta(ctx context.Context, change func(*deepcallv1.AgentGroup)) error {
	before := s.g.DeepCopy()
	after := before.DeepCopy()
	change(after)
	if err := s.r.Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	after.ObjectMeta.DeepCopyInto(&s.g.ObjectMeta)
	after.ObjectMeta.DeepCopyInto(&s.base.ObjectMeta)
	return nil
}

// ownAnnotationsIgnored drops the operator's own annotation, whose writes
// are no reason to look at an AgentGroup again.
func ownAnnotationsIgnored(annotations map[string]string) map[string]string {
	if _, ok := annotations[deepcallv1.AnnotationCreateIntent]; !ok {
		return annotations
	}
	out := maps.Clone(annotations)
	delete(out, deepcallv1.AnnotationCreateIntent)
	return out
}

// peopleChangedAnnotations passes an update whose annotations changed
// other than by the operator's own intent: "any annotation change looks
// now" is a person's lever.
var peopleChangedAnnotations = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(ownAnnotationsIgnored(e.ObjectOld.GetAnnotations()), ownAnnotationsIgnored(e.ObjectNew.GetAnnotations()))
	},
}
