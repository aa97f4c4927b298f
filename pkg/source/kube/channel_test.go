package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// TestDetectChannel: the HTTPRoute CRD's channel annotation decides; a CRD
// gatewarden may not read, or that says nothing, is the standard channel
// (fewer features declared, never more); any other error stops the start.
func TestDetectChannel(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	crd := func(annotations map[string]string) client.Object {
		return &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: httpRouteCRD, Annotations: annotations}}
	}
	failing := func(err error) interceptor.Funcs {
		return interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return err
		}}
	}
	gr := schema.GroupResource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}
	for name, tc := range map[string]struct {
		objs    []client.Object
		funcs   interceptor.Funcs
		want    string
		wantErr bool
	}{
		"experimental":       {objs: []client.Object{crd(map[string]string{channelAnnotation: "experimental"})}, want: "experimental"},
		"standard":           {objs: []client.Object{crd(map[string]string{channelAnnotation: "standard"})}, want: "standard"},
		"no annotation":      {objs: []client.Object{crd(nil)}, want: "standard"},
		"another CRD only":   {objs: []client.Object{&apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "gateways.gateway.networking.k8s.io", Annotations: map[string]string{channelAnnotation: "experimental"}}}}, want: "standard"},
		"forbidden":          {funcs: failing(apierrors.NewForbidden(gr, httpRouteCRD, errors.New("RBAC"))), want: "standard"},
		"API server failing": {funcs: failing(apierrors.NewServiceUnavailable("etcd")), wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.objs...).WithInterceptorFuncs(tc.funcs).Build()
			got, err := detectChannel(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("detectChannel = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
