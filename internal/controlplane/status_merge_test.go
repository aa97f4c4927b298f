package controlplane

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestMergeEntries: another controller's entries stay as they are; ours
// replace our old ones, a condition whose status did not change keeping
// its transition time and one that changed taking now.
func TestMergeEntries(t *testing.T) {
	then, now := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	cond := func(typ string, st metav1.ConditionStatus, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, Reason: typ, LastTransitionTime: at}
	}
	entry := func(ctrl, parent string, conds ...metav1.Condition) gwv1.RouteParentStatus {
		return gwv1.RouteParentStatus{ControllerName: gwv1.GatewayController(ctrl), ParentRef: gwv1.ParentReference{Name: gwv1.ObjectName(parent)}, Conditions: conds}
	}
	cur := []gwv1.RouteParentStatus{
		entry("example.com/other", "gw", cond("Accepted", metav1.ConditionFalse, then)),
		entry("us", "gw", cond("Accepted", metav1.ConditionTrue, then), cond("ResolvedRefs", metav1.ConditionTrue, then)),
		entry("us", "gone", cond("Accepted", metav1.ConditionTrue, then)),
	}
	ours := []gwv1.RouteParentStatus{
		entry("us", "gw", cond("Accepted", metav1.ConditionTrue, now), cond("ResolvedRefs", metav1.ConditionFalse, now)),
		entry("us", "new", cond("Accepted", metav1.ConditionTrue, now)),
	}
	got := mergeEntries(cur, ours, "us", now, parentKey)
	want := []gwv1.RouteParentStatus{
		entry("example.com/other", "gw", cond("Accepted", metav1.ConditionFalse, then)),
		entry("us", "gw", cond("Accepted", metav1.ConditionTrue, then), cond("ResolvedRefs", metav1.ConditionFalse, now)),
		entry("us", "new", cond("Accepted", metav1.ConditionTrue, now)),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mergeEntries (-want +got):\n%s", d)
	}
	if ours[0].Conditions[0].LastTransitionTime != now {
		t.Error("mergeEntries changed the translator's status it was given")
	}
	if !hasEntryOf(cur, "us", parentKey) || hasEntryOf(cur[:1], "us", parentKey) {
		t.Error("hasEntryOf does not tell whose the entries are")
	}
	if got := mergeEntries(cur, nil, "us", now, parentKey); len(got) != 1 || got[0].ControllerName != "example.com/other" {
		t.Errorf("with none of ours, want only the other controller's entry, got %+v", got)
	}
}
