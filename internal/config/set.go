package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set applies one command-line override "KEY=VALUE". KEY is a dotted path of
// YAML keys (TRAIN.LR, NETWORK.VLBERT.hidden_size; DATASET.1.SEQ_LEN picks
// an entry of a list-valued DATASET); VALUE is parsed as YAML ("1e-4",
// "[4, 4]", "14,18" for LR_STEP). An unknown path is an error.
func (c *Config) Set(assignment string) error {
	key, value, ok := strings.Cut(assignment, "=")
	if !ok || key == "" {
		return fmt.Errorf("config: override %q is not KEY=VALUE", assignment)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
		return fmt.Errorf("config: override %s: %w", key, err)
	}
	val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		val = doc.Content[0]
	}
	m := merger{task: c.Task, file: "--set " + key}
	parts := strings.Split(key, ".")
	if parts[0] == "DATASET" && len(parts) > 1 {
		// DATASET.KEY, or DATASET.<index>.KEY for a list-valued DATASET.
		idx, rest, path := 0, parts[1:], "DATASET"
		if n, err := strconv.Atoi(parts[1]); err == nil {
			if n < 0 || n >= len(c.Datasets) {
				return fmt.Errorf("config: override %s: DATASET has %d entries", key, len(c.Datasets))
			}
			idx, rest, path = n, parts[2:], "DATASET."+parts[1]
		} else if c.DatasetIsList {
			return fmt.Errorf("config: override %s: DATASET is a list; write DATASET.<index>.%s", key, parts[1])
		}
		return m.setIn(reflect.ValueOf(&c.Datasets[idx]).Elem(), rest, path, val, key)
	}
	return m.setIn(reflect.ValueOf(c).Elem(), parts, "", val, key)
}

func (m *merger) setIn(v reflect.Value, parts []string, path string, val *yaml.Node, key string) error {
	if len(parts) == 0 {
		return fmt.Errorf("config: override %s: missing key after DATASET index", key)
	}
	for i, p := range parts {
		path = joinPath(path, p)
		fi, ok := fieldFor(v.Type(), p, m.task)
		if !ok {
			return fmt.Errorf("config: override %s: unknown key %s (not in the %s config defaults)", key, path, m.task)
		}
		if i == len(parts)-1 {
			return m.mergeValue(v, fi, val, path)
		}
		v = v.Field(fi)
		if v.Kind() != reflect.Struct || isUnmarshaler(v) {
			return fmt.Errorf("config: override %s: %s is not a mapping", key, path)
		}
	}
	return nil
}

// SetAll applies overrides in order.
func (c *Config) SetAll(assignments []string) error {
	for _, a := range assignments {
		if err := c.Set(a); err != nil {
			return err
		}
	}
	return nil
}

// Marshal serializes the config in the original YAML schema, with only the
// keys of its task, so that Parse (or the original update_config) reads it
// back to the same values. Floats are written with a decimal point and a
// signed exponent ("1.0e-07") because PyYAML reads "1e-07" as a string.
func (c *Config) Marshal() ([]byte, error) {
	root := encodeStruct(reflect.ValueOf(c).Elem(), c.Task)
	return yaml.Marshal(root)
}

func encodeStruct(v reflect.Value, task Task) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := yamlKey(f)
		if key == "" || !fieldInTask(f, task) || isDefaultExtension(f, v.Field(i)) {
			continue
		}
		var val *yaml.Node
		if t == configType && f.Type == datasetsType {
			c := v.Addr().Interface().(*Config)
			if c.DatasetIsList {
				val = &yaml.Node{Kind: yaml.SequenceNode}
				for j := range c.Datasets {
					val.Content = append(val.Content, encodeStruct(reflect.ValueOf(&c.Datasets[j]).Elem(), task))
				}
			} else {
				val = encodeStruct(reflect.ValueOf(&c.Datasets[0]).Elem(), task)
			}
		} else {
			val = encodeValue(v.Field(i), task)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, val)
	}
	return n
}

// isDefaultExtension reports whether f is a vlbert extension key (tag
// vlbert:"ext,<default>") that holds its default, which Marshal leaves out so
// that the original can read the file.
func isDefaultExtension(f reflect.StructField, v reflect.Value) bool {
	tag, ok := f.Tag.Lookup("vlbert")
	if !ok {
		return false
	}
	def, ok := strings.CutPrefix(tag, "ext,")
	return ok && fmt.Sprint(v.Interface()) == def
}

func encodeValue(v reflect.Value, task Task) *yaml.Node {
	if m, ok := v.Interface().(yaml.Marshaler); ok {
		x, err := m.MarshalYAML()
		if err != nil {
			panic("config: " + err.Error())
		}
		return encodeValue(reflect.ValueOf(x), task)
	}
	switch v.Kind() {
	case reflect.Struct:
		return encodeStruct(v, task)
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, encodeValue(v.Index(i), task))
		}
		return n
	case reflect.Interface:
		return encodeValue(v.Elem(), task)
	case reflect.Float32, reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: formatFloat(v.Float())}
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String(), Style: yaml.SingleQuotedStyle}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	}
	panic(fmt.Sprintf("config: cannot encode %s", v.Type()))
}

// formatFloat writes a float so that both YAML 1.1 (PyYAML) and YAML 1.2
// read it as a float: a decimal point, and an explicit exponent sign.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	mant, exp, hasExp := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if !hasExp {
		return mant
	}
	if exp[0] != '-' && exp[0] != '+' {
		exp = "+" + exp
	}
	return mant + "e" + exp
}
