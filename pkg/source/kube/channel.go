package kube

import (
	"context"
	"fmt"
	"log/slog"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The Gateway API ships its CRDs in two channels: the experimental one
// keeps fields the standard one does not have (HTTPRouteRule.retry, say),
// which the API server drops from objects when the standard CRDs are
// installed. Each CRD names its channel in an annotation.
const (
	channelAnnotation = "gateway.networking.k8s.io/channel"
	// ChannelExperimental is the annotation's value on the experimental
	// channel's CRDs.
	ChannelExperimental = "experimental"
	httpRouteCRD        = "httproutes.gateway.networking.k8s.io"
)

var crdKind = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// detectChannel reads the channel of the installed HTTPRoute CRD (its
// metadata only). A CRD gatewarden may not read (a ClusterRole of an older
// release), or one without the annotation, counts as the standard channel:
// gatewarden then declares fewer features, never more than it serves. Other
// errors are returned, so that a transient failure is not taken for an
// answer.
func detectChannel(ctx context.Context, r client.Reader, log *slog.Logger) (string, error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdKind)
	err := r.Get(ctx, client.ObjectKey{Name: httpRouteCRD}, crd)
	switch {
	case apierrors.IsForbidden(err):
		log.Warn("may not read the HTTPRoute CRD (get customresourcedefinitions "+httpRouteCRD+"): taken for the Gateway API standard channel, the experimental channel's features (retries) are not declared in the GatewayClass status", "error", err)
		return "standard", nil
	case apierrors.IsNotFound(err):
		return "standard", nil
	case err != nil:
		return "", fmt.Errorf("read the CRD %s: %w", httpRouteCRD, err)
	}
	if c := crd.GetAnnotations()[channelAnnotation]; c != "" {
		return c, nil
	}
	return "standard", nil
}

// Channel is the Gateway API channel of the CRDs installed when the source
// started (the HTTPRoute CRD's gateway.networking.k8s.io/channel):
// "standard" or "experimental". Changing the CRDs' channel takes a restart.
func (s *Source) Channel() string { return s.channel }
