package render

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// writeYAML renders a JSON-shaped value (maps, lists, strings, numbers,
// booleans, null) as block YAML, map keys sorted. YAML libraries take time
// that grows faster than the document on configurations of thousands of
// routes; this writer is linear. A string that could be read back as
// anything else is written in JSON's double-quoted form, which is also
// YAML's.
func writeYAML(out *bytes.Buffer, v any, indent string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out.WriteString(" {}\n")
			return
		}
		out.WriteByte('\n')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out.WriteString(indent)
			out.WriteString(yamlString(k))
			out.WriteByte(':')
			writeYAML(out, x[k], indent+"  ")
		}
	case []any:
		if len(x) == 0 {
			out.WriteString(" []\n")
			return
		}
		out.WriteByte('\n')
		for _, e := range x {
			out.WriteString(indent)
			out.WriteString("-")
			switch e.(type) {
			case map[string]any, []any:
				var sub bytes.Buffer
				writeYAML(&sub, e, indent+"  ")
				// "- key: value" on the dash's line for the first key.
				text := sub.String()
				if strings.HasPrefix(text, "\n"+indent+"  ") {
					out.WriteString(" ")
					out.WriteString(text[len(indent)+3:])
				} else {
					out.WriteString(text)
				}
			default:
				writeYAML(out, e, indent+"  ")
			}
		}
	default:
		out.WriteByte(' ')
		out.WriteString(yamlScalar(x))
		out.WriteByte('\n')
	}
}

func yamlScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case string:
		return yamlString(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./-]*$`)

// yamlString writes s plain when YAML reads it back as the same string,
// else double-quoted.
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "", "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		b, _ := json.Marshal(s)
		return string(b)
	}
	if plainYAML.MatchString(s) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}
