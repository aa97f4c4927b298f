package kube

import "sigs.k8s.io/controller-runtime/pkg/manager"

// Manager is the source's controller-runtime manager, for components that
// share its informers and client and run while it runs (the provisioner).
// Add them before Run.
func (s *Source) Manager() manager.Manager { return s.mgr }
