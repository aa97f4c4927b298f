package translator

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// listenerOwner is the object that declares a listener: its Gateway, or a
// ListenerSet attached to it. Its namespace is the one of "Same" in
// allowedRoutes and of the certificates it names without a namespace; its
// kind is the one a ReferenceGrant must name to let it use another
// namespace's certificates.
type listenerOwner struct {
	kind, namespace, name string
	generation            int64
}

// portClaims are the protocol of each port and the listener of each port
// and hostname, as the listeners of a Gateway, then those of its
// ListenerSets, are accepted: the first claim wins (the Gateway's own
// listeners before any ListenerSet's).
type portClaims struct {
	protocols map[portKey]gwv1.ProtocolType
	hostnames map[hostKey]string
}

// portKey is a port of a listener. A UDP port is not a TCP port: a UDP
// listener shares its number with a TCP, TLS, HTTP or HTTPS one without a
// conflict.
type portKey struct {
	port gwv1.PortNumber
	udp  bool
}

type hostKey struct {
	port     portKey
	hostname string
}

func newPortClaims() *portClaims {
	return &portClaims{protocols: map[portKey]gwv1.ProtocolType{}, hostnames: map[hostKey]string{}}
}

// acceptListener checks the listener l of owner against what gatewarden
// serves and the listeners accepted before it. It returns its status and,
// when accepted, its state (nil otherwise).
func (t *translation) acceptListener(gs *gatewayState, owner listenerOwner, l gwv1.Listener, claims *portClaims) (gwv1.ListenerStatus, *listenerState) {
	g, gen := gs.obj, owner.generation
	ls := gwv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwv1.RouteGroupKind{}}
	lp := &ls
	reason, msg := checkListener(l)
	if reason != string(gwv1.ListenerReasonUnsupportedProtocol) {
		ls.SupportedKinds = supportedKinds(l)
	}
	pk := portKey{l.Port, l.Protocol == gwv1.UDPProtocolType}
	if p, ok := claims.protocols[pk]; reason == "" && ok && p != l.Protocol {
		reason, msg = string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf("listener %q: port %d is already used with protocol %s", l.Name, l.Port, p)
	}
	// Two listeners of one port with one hostname would share its virtual
	// host, and one would take the other's routes and policy: the first
	// (the Gateway's in spec order, then the ListenerSets' in theirs) keeps it.
	hk := hostKey{pk, strings.ToLower(string(ptrOr(l.Hostname, "")))}
	if other, ok := claims.hostnames[hk]; reason == "" && ok {
		reason, msg = string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("listener %q: port %d and hostname %q are already used by %s", l.Name, l.Port, hk.hostname, other)
	}
	if reason != "" {
		conflict := reason == string(gwv1.ListenerReasonProtocolConflict) || reason == string(gwv1.ListenerReasonHostnameConflict)
		if conflict {
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionConflicted), true, reason, msg, gen)
		}
		setCondition(&lp.Conditions, string(gwv1.ListenerConditionAccepted), false, reason, msg, gen)
		progReason := string(gwv1.ListenerReasonInvalid)
		if conflict && owner.kind == kindListenerSet {
			progReason = reason // the ListenerSet conformance tests ask for it
		}
		setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), false, progReason, msg, gen)
		return ls, nil
	}
	claims.protocols[pk] = l.Protocol
	claims.hostnames[hk] = owner.describe(l.Name)
	setCondition(&lp.Conditions, string(gwv1.ListenerConditionAccepted), true, string(gwv1.ListenerReasonAccepted), "Listener is accepted", gen)
	var certs []certificate
	var clientCA string
	if terminatesTLS(l) {
		var refReason, refMsg string
		certs, refReason, refMsg = t.resolveCertificates(owner, l)
		if refReason != "" {
			// Routes still attach (and are counted), but Envoy gets no
			// filter chain for it.
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionResolvedRefs), false, refReason, refMsg, gen)
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), refMsg, gen)
			return ls, &listenerState{gw: gs, spec: l, unprogrammed: true}
		}
		// The Gateway's client certificate validation holds for every
		// listener of its ports, a ListenerSet's too.
		fca := t.frontendValidation(g, l)
		if fca.refReason != "" {
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionResolvedRefs), false, fca.refReason, fca.msg, gen)
		}
		if fca.noneValid {
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionAccepted), false, fca.acceptReason, fca.msg, gen)
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), fca.msg, gen)
			return ls, &listenerState{gw: gs, spec: l, unprogrammed: true}
		}
		clientCA = fca.pem
	}
	if kindMsg := unsupportedKinds(l); kindMsg != "" {
		setCondition(&lp.Conditions, string(gwv1.ListenerConditionResolvedRefs), false, string(gwv1.ListenerReasonInvalidRouteKinds), kindMsg, gen)
	} else if meta.FindStatusCondition(lp.Conditions, string(gwv1.ListenerConditionResolvedRefs)) == nil {
		setCondition(&lp.Conditions, string(gwv1.ListenerConditionResolvedRefs), true, string(gwv1.ListenerReasonResolvedRefs), "References are resolved", gen)
	}
	setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), "Listener is programmed", gen)
	return ls, &listenerState{gw: gs, spec: l, certs: certs, clientCA: clientCA}
}
