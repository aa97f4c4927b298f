package resource

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	sigsjson "sigs.k8s.io/json"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// DefaultNamespace is given to objects of a file that name none, as kubectl does.
const DefaultNamespace = "default"

// Object is one decoded manifest document.
type Object interface {
	GetNamespace() string
	GetName() string
	SetNamespace(string)
	GetObjectKind() schema.ObjectKind
}

// Doc is one document of a file: where it starts and what it decoded to.
type Doc struct {
	// Line is the 1-based line the document starts on.
	Line int
	// GVK is the document's apiVersion and kind.
	GVK schema.GroupVersionKind
	// Object is nil for a kind gatewarden does not read.
	Object Object
}

// Error is a problem with one document of a file, located for a person to fix.
type Error struct {
	File   string
	Line   int
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// The Gateway API's group versions, as schema.GroupVersion (its
// SchemeGroupVersion aliases are deprecated).
var (
	gatewayV1      = schema.GroupVersion(gwv1.GroupVersion)
	gatewayV1beta1 = schema.GroupVersion(gwv1beta1.GroupVersion)
)

// kinds maps every kind gatewarden reads to a constructor of its Go type:
// the route kinds of RouteKinds and the others below.
var kinds = func() map[schema.GroupVersionKind]func() Object {
	m := map[schema.GroupVersionKind]func() Object{}
	for _, k := range RouteKinds {
		for _, v := range k.Versions {
			m[schema.GroupVersionKind{Group: gwv1.GroupName, Version: v, Kind: k.Kind}] = func() Object { return k.New() }
		}
	}
	maps.Copy(m, otherKinds)
	return m
}()

// otherKinds are the kinds gatewarden reads that are not routes.
var otherKinds = map[schema.GroupVersionKind]func() Object{
	gatewayV1.WithKind("GatewayClass"):                       func() Object { return &gwv1.GatewayClass{} },
	gatewayV1.WithKind("Gateway"):                            func() Object { return &gwv1.Gateway{} },
	gatewayV1.WithKind("ListenerSet"):                        func() Object { return &gwv1.ListenerSet{} },
	gatewayV1beta1.WithKind("GatewayClass"):                  func() Object { return &gwv1.GatewayClass{} },
	gatewayV1beta1.WithKind("Gateway"):                       func() Object { return &gwv1.Gateway{} },
	gatewayV1beta1.WithKind("ReferenceGrant"):                func() Object { return &gwv1beta1.ReferenceGrant{} },
	gatewayV1.WithKind("ReferenceGrant"):                     func() Object { return &gwv1beta1.ReferenceGrant{} },
	corev1.SchemeGroupVersion.WithKind("Secret"):             func() Object { return &corev1.Secret{} },
	corev1.SchemeGroupVersion.WithKind("ConfigMap"):          func() Object { return &corev1.ConfigMap{} },
	gatewayV1.WithKind("BackendTLSPolicy"):                   func() Object { return &gwv1.BackendTLSPolicy{} },
	corev1.SchemeGroupVersion.WithKind("Namespace"):          func() Object { return &corev1.Namespace{} },
	corev1.SchemeGroupVersion.WithKind("Service"):            func() Object { return &corev1.Service{} },
	discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"): func() Object { return &discoveryv1.EndpointSlice{} },
	optv1.GroupVersion.WithKind(optv1.KindVirtualHostOption): func() Object { return &optv1.VirtualHostOption{} },
	optv1.GroupVersion.WithKind(optv1.KindRouteOption):       func() Object { return &optv1.RouteOption{} },
}

// kindInfo is what a document of a kind gatewarden reads is given: its
// constructor and the strings of its apiVersion and kind, held once for
// every document of the kind (a loader keeps thousands).
type kindInfo struct {
	gvk        schema.GroupVersionKind
	apiVersion string
	new        func() Object
}

var kindInfos = func() map[schema.GroupVersionKind]*kindInfo {
	m := make(map[schema.GroupVersionKind]*kindInfo, len(kinds))
	for gvk, newObj := range kinds {
		m[gvk] = &kindInfo{gvk: gvk, apiVersion: gvk.GroupVersion().String(), new: newObj}
	}
	return m
}()

// Load decodes every document of one file. Documents of kinds gatewarden does
// not read are returned with a nil Object. Decoding is strict: an unknown or
// duplicated field is an error naming the field and its line, because a
// misspelt policy field silently ignored could leave a route open.
//
// A file with any bad document yields an error for each and no documents, so
// that a caller never serves half a file.
func Load(file string, data []byte) ([]Doc, error) {
	var docs []Doc
	var errs []error
	for _, part := range splitDocuments(data) {
		doc, err := decode(part.data)
		if err != nil {
			var le *lineError
			line := part.line
			if errors.As(err, &le) {
				line += le.line - 1
			}
			errs = append(errs, &Error{File: file, Line: line, Reason: err.Error()})
			continue
		}
		if doc == nil {
			continue // an empty document
		}
		doc.Line = part.line
		docs = append(docs, *doc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return docs, nil
}

type part struct {
	line int
	data []byte
}

// splitDocuments cuts a YAML stream at its "---" separator lines, keeping the
// line each document starts on. A JSON file is one document.
func splitDocuments(data []byte) []part {
	var parts []part
	start, startLine := 0, 1
	line := 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data) + 1
		if end >= 0 {
			next = i + end + 1
		}
		text := data[i:min(next-1, len(data))]
		if isSeparator(text) {
			parts = append(parts, part{line: startLine, data: data[start:i]})
			start, startLine = min(next, len(data)), line+1
		}
		i = next
		line++
	}
	parts = append(parts, part{line: startLine, data: data[start:]})
	return parts
}

func isSeparator(line []byte) bool {
	line = bytes.TrimRight(line, " \t\r")
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	return len(rest) == 0 || rest[0] == '#'
}

// lineError is a decoding error that knows the line within its document.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

func decode(data []byte) (*Doc, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, yamlError(err)
	}
	if node.Kind == 0 || (node.Kind == yaml.DocumentNode && len(node.Content) == 0) {
		return nil, nil
	}
	root := &node
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &lineError{line: root.Line, msg: "not a Kubernetes object: the document is not a mapping"}
	}
	if err := duplicateKeys(root, ""); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := nodeToJSON(root, &buf); err != nil {
		return nil, err
	}
	jsonData := buf.Bytes()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(jsonData, &meta); err != nil {
		return nil, fmt.Errorf("read apiVersion and kind: %w", err)
	}
	if meta.APIVersion == "" || meta.Kind == "" {
		return nil, &lineError{line: root.Line, msg: "not a Kubernetes object: apiVersion and kind are required"}
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return nil, &lineError{line: lineOf(root, []string{"apiVersion"}), msg: fmt.Sprintf("apiVersion %q: %v", meta.APIVersion, err)}
	}
	gvk := gv.WithKind(meta.Kind)
	info, ok := kindInfos[gvk]
	if !ok {
		return &Doc{GVK: gvk}, nil
	}
	obj := info.new()
	strict, err := sigsjson.UnmarshalStrict(jsonData, obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	if len(strict) > 0 {
		var msgs []string
		first := 0
		for _, e := range strict {
			path, msg := strictPath(e.Error())
			if l := lineOf(root, path); l > 0 && (first == 0 || l < first) {
				first = l
			}
			msgs = append(msgs, msg)
		}
		return nil, &lineError{line: first, msg: fmt.Sprintf("%s %s: %s", meta.Kind, objName(obj), strings.Join(msgs, "; "))}
	}
	if obj.GetName() == "" {
		return nil, &lineError{line: root.Line, msg: fmt.Sprintf("%s: metadata.name is required", meta.Kind)}
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(DefaultNamespace)
	}
	if tm, ok := obj.GetObjectKind().(*metav1.TypeMeta); ok {
		tm.APIVersion, tm.Kind = info.apiVersion, info.gvk.Kind
	}
	share(obj)
	return &Doc{GVK: info.gvk, Object: obj}, nil
}

func objName(o Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// strictPath pulls the field path out of a strict-decoding error such as
// `unknown field "spec.options.jwtt"` and rewords it for a person.
func strictPath(msg string) ([]string, string) {
	i := strings.IndexByte(msg, '"')
	j := strings.LastIndexByte(msg, '"')
	if i < 0 || j <= i {
		return nil, msg
	}
	field := msg[i+1 : j]
	var path []string
	for _, seg := range strings.Split(field, ".") {
		if k := strings.IndexByte(seg, '['); k >= 0 {
			path = append(path, seg[:k])
			path = append(path, strings.Trim(seg[k:], "[]"))
			continue
		}
		path = append(path, seg)
	}
	return path, msg
}

// lineOf finds the line of a field path in a YAML tree; 0 when it is not there.
func lineOf(n *yaml.Node, path []string) int {
	line := 0
	for _, seg := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into a lineError.
func yamlError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if k := strings.IndexByte(rest, ':'); k > 0 {
			if n, convErr := strconv.Atoi(rest[:k]); convErr == nil {
				return &lineError{line: n, msg: "invalid YAML: " + strings.TrimSpace(rest[k+1:])}
			}
		}
	}
	return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// duplicateKeys finds a key given twice in one mapping: YAML-to-JSON
// conversion would silently keep the last one.
func duplicateKeys(n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			if seen[k] {
				return &lineError{line: n.Content[i].Line, msg: fmt.Sprintf("duplicate field %q", p)}
			}
			seen[k] = true
			if err := duplicateKeys(n.Content[i+1], p); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateKeys(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
