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
	c := &converter{budget: maxNodes}
	return c.node(n, buf, 0)
}

// Bounds on a document: aliases may refer to themselves or expand
// exponentially ("billion laughs"); a manifest never needs either.
const (
	maxAliasDepth = 16
	maxNodes      = 1 << 20
)

type converter struct{ budget int }

func (c *converter) node(n *yaml.Node, buf *bytes.Buffer, aliases int) error {
	c.budget--
	if c.budget < 0 {
		return lineErr(n.Line, "the document expands to more than %d nodes", maxNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return c.node(n.Content[0], buf, aliases)
	case yaml.AliasNode:
		if aliases >= maxAliasDepth || n.Alias == nil {
			return lineErr(n.Line, "aliases nested more than %d deep (or referring to themselves)", maxAliasDepth)
		}
		return c.node(n.Alias, buf, aliases+1)
	case yaml.SequenceNode:
		buf.WriteByte('[')
		c2 := c
		for i, e := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := c2.node(e, buf, aliases); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.MappingNode:
		buf.WriteByte('{')
		first := true
		var write func(m *yaml.Node, depth int) error
		seen := map[string]bool{}
		write = func(m *yaml.Node, depth int) error {
			if depth > maxAliasDepth {
				return lineErr(m.Line, "merges nested more than %d deep (or referring to themselves)", maxAliasDepth)
			}
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := m.Content[i], m.Content[i+1]
				if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
					// "<<: *base": the merged mapping's keys, unless set here.
					src := v
					if src.Kind == yaml.AliasNode {
						src = src.Alias
					}
					if src.Kind == yaml.MappingNode {
						if err := write(src, depth+1); err != nil {
							return err
						}
					}
					continue
				}
				if k.Kind == yaml.AliasNode {
					k = k.Alias
				}
				if k.Kind != yaml.ScalarNode {
					return lineErr(k.Line, "a mapping key must be a scalar")
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
				if err := c.node(v, buf, aliases); err != nil {
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
		if err := write(direct, 0); err != nil {
			return err
		}
		if err := write(&yaml.Node{Kind: yaml.MappingNode, Content: merges}, 0); err != nil {
			return err
		}
		buf.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		return scalarToJSON(n, buf)
	}
	return lineErr(n.Line, "unexpected YAML node")
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
			return lineErr(n.Line, "%s cannot be represented in JSON", n.Value)
		}
	}
	s, err := json.Marshal(n.Value)
	if err != nil {
		return err
	}
	buf.Write(s)
	return nil
}

func lineErr(line int, format string, args ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}
