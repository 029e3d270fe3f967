//go:build ignore

// openapi_merge adds hand-written Swagger 2.0 paths and definitions (the
// routes the gateway serves that are not RPCs, such as the evidence export)
// to the document protoc-gen-openapiv2 generated, in place. `make proto` runs
// it after buf generate:
//
//	go run gateway/openapi_merge.go DOCUMENT FRAGMENT
//
// FRAGMENT is YAML with `paths` and `definitions` only. The document keeps
// the generator's layout (key order, two-space indent, HTML-escaped strings),
// so only the added entries show in a diff, and merging again changes
// nothing. An entry the document already has with other content is an error:
// the generator produces it now, so the fragment must drop it.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run gateway/openapi_merge.go DOCUMENT FRAGMENT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi_merge:", err)
		os.Exit(1)
	}
}

func run(docPath, fragPath string) error {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(fragPath)
	if err != nil {
		return err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(src, &node); err != nil {
		return fmt.Errorf("%s: %w", fragPath, err)
	}
	var frag bytes.Buffer
	if err := toJSON(&frag, &node); err != nil {
		return fmt.Errorf("%s: %w", fragPath, err)
	}
	out, err := merge(doc, frag.Bytes())
	if err != nil {
		return fmt.Errorf("%s into %s: %w", fragPath, docPath, err)
	}
	return os.WriteFile(docPath, out, 0o644)
}

// member is one key of a JSON object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

func merge(doc, frag []byte) ([]byte, error) {
	top, err := readObject(doc)
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	sections, err := readObject(frag)
	if err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	for _, s := range sections {
		// A path item merges by method; a definition is one entry.
		var depth int
		switch s.key {
		case "paths":
			depth = 2
		case "definitions":
			depth = 1
		default:
			return nil, fmt.Errorf("fragment: %q: only paths and definitions are merged", s.key)
		}
		i := slices.IndexFunc(top, func(m member) bool { return m.key == s.key })
		if i < 0 {
			top = append(top, member{key: s.key, value: json.RawMessage("{}")})
			i = len(top) - 1
		}
		if top[i].value, err = mergeObject(top[i].value, s.value, depth, s.key); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, writeObject(top), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// mergeObject adds the members of the object add to the object raw, keys
// sorted as the generator sorts them. Below depth 1 a member present on
// both sides merges one level down (a path's methods).
func mergeObject(raw, add json.RawMessage, depth int, where string) (json.RawMessage, error) {
	have, err := readObject(raw)
	if err != nil {
		return nil, fmt.Errorf("document: %s: %w", where, err)
	}
	adds, err := readObject(add)
	if err != nil {
		return nil, fmt.Errorf("fragment: %s: %w", where, err)
	}
	for _, a := range adds {
		name := where + "." + a.key
		i := slices.IndexFunc(have, func(m member) bool { return m.key == a.key })
		switch {
		case i < 0:
			have = append(have, a)
		case depth > 1:
			if have[i].value, err = mergeObject(have[i].value, a.value, depth-1, name); err != nil {
				return nil, err
			}
		default:
			var old, cur bytes.Buffer
			if json.Compact(&old, have[i].value) != nil || json.Compact(&cur, a.value) != nil || !bytes.Equal(old.Bytes(), cur.Bytes()) {
				return nil, fmt.Errorf("%s is generated now: drop it from the fragment", name)
			}
		}
	}
	slices.SortStableFunc(have, func(a, b member) int { return strings.Compare(a.key, b.key) })
	return writeObject(have), nil
}

// readObject reads a JSON object's members in document order.
func readObject(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{key: t.(string), value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return ms, nil
}

func writeObject(ms []member) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// toJSON writes a YAML node as JSON, keeping the order of its mappings (the
// fragment reads as written). Strings are HTML-escaped, as the generator's
// are.
func toJSON(w *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: one document expected", n.Line)
		}
		return toJSON(w, n.Content[0])
	case yaml.AliasNode:
		return toJSON(w, n.Alias)
	case yaml.MappingNode:
		w.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				w.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			w.Write(k)
			w.WriteByte(':')
			if err := toJSON(w, n.Content[i+1]); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	case yaml.SequenceNode:
		w.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := toJSON(w, c); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		w.Write(b)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}
