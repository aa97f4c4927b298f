package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeToJSON writes a parsed YAML document as JSON, so that a document is
// parsed once (for both its line numbers and its content). Scalars resolve
// as Kubernetes' own YAML reading does (sigs.k8s.io/yaml, YAML 1.1): an
// unquoted yes, no, on or off is a boolean, even as a key ("y:" is "true").
func nodeToJSON(n *yaml.Node, buf *bytes.Buffer) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return nodeToJSON(n.Content[0], buf)
	case yaml.AliasNode:
		return nodeToJSON(n.Alias, buf)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeToJSON(c, buf); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.MappingNode:
		buf.WriteByte('{')
		first := true
		var write func(m *yaml.Node) error
		seen := map[string]bool{}
		write = func(m *yaml.Node) error {
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := m.Content[i], m.Content[i+1]
				if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
					// "<<: *base": the merged mapping's keys, unless set here.
					src := v
					if src.Kind == yaml.AliasNode {
						src = src.Alias
					}
					if src.Kind == yaml.MappingNode {
						if err := write(src); err != nil {
							return err
						}
					}
					continue
				}
				if k.Kind == yaml.AliasNode {
					k = k.Alias
				}
				if k.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
				}
				if seen[k.Value] {
					continue
				}
				seen[k.Value] = true
				if !first {
					buf.WriteByte(',')
				}
				first = false
				var key bytes.Buffer
				if err := scalarToJSON(k, &key); err != nil {
					return err
				}
				if key.Len() > 0 && key.Bytes()[0] != '"' {
					// A non-string key (true, 12) becomes its JSON text.
					ks, _ := json.Marshal(key.String())
					buf.Write(ks)
				} else {
					buf.Write(key.Bytes())
				}
				buf.WriteByte(':')
				if err := nodeToJSON(v, buf); err != nil {
					return err
				}
			}
			return nil
		}
		// Keys given directly win over merged ones: write them first.
		direct := &yaml.Node{Kind: yaml.MappingNode}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Tag == "!!merge" {
				merges = append(merges, n.Content[i], n.Content[i+1])
				continue
			}
			direct.Content = append(direct.Content, n.Content[i], n.Content[i+1])
		}
		if err := write(direct); err != nil {
			return err
		}
		if err := write(&yaml.Node{Kind: yaml.MappingNode, Content: merges}); err != nil {
			return err
		}
		buf.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		return scalarToJSON(n, buf)
	}
	return fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func scalarToJSON(n *yaml.Node, buf *bytes.Buffer) error {
	quoted := n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if !quoted {
		switch n.Value {
		case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
			buf.WriteString("true")
			return nil
		case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
			buf.WriteString("false")
			return nil
		}
	}
	if quoted {
		s, err := json.Marshal(n.Value)
		if err != nil {
			return err
		}
		buf.Write(s)
		return nil
	}
	switch n.Tag {
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!int":
		v := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			buf.WriteString(strconv.FormatInt(i, 10))
			return nil
		}
		if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			buf.WriteString(strconv.FormatUint(u, 10))
			return nil
		}
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			return nil
		}
		if err == nil {
			return fmt.Errorf("line %d: %s cannot be represented in JSON", n.Line, n.Value)
		}
	}
	s, err := json.Marshal(n.Value)
	if err != nil {
		return err
	}
	buf.Write(s)
	return nil
}
