package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the size of a config file (configs are a few KiB).
const MaxFileSize = 1 << 20

// Load reads a YAML config file and merges it onto the defaults of task. An
// empty task is detected from the file (see DetectTask).
func Load(path string, task Task) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitedReader{f, MaxFileSize + 1}); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return Parse(buf.Bytes(), path, task)
}

type limitedReader struct {
	f interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("file larger than %d bytes", MaxFileSize)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// Parse merges YAML data onto the defaults of task; name is used in error
// messages. An empty task is detected from the data (DetectTask).
func Parse(data []byte, name string, task Task) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: %s: larger than %d bytes", name, MaxFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	} else if doc.Kind != 0 {
		return nil, fmt.Errorf("config: %s: not a single YAML document", name)
	}
	if root != nil && root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		root = nil
	}
	if root != nil && root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s:%d: top level is not a mapping", name, root.Line)
	}
	if task == "" {
		t, err := detectTask(root)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", name, err)
		}
		task = t
	}
	c, err := Defaults(task)
	if err != nil {
		return nil, err
	}
	if root != nil {
		m := merger{task: task, file: name}
		if err := m.mergeStruct(reflect.ValueOf(c).Elem(), root, ""); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// DetectTask guesses the task of a config: a MODULE naming a pretraining or
// attention-visualisation network, or a list-valued DATASET, is pretraining;
// otherwise DATASET.DATASET decides (vqa, vcr, refcoco*, and the pretraining
// datasets conceptual_captions, general_corpus, coco_captions).
func DetectTask(data []byte) (Task, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return "", errors.New("config: cannot detect the task of an empty config")
	}
	return detectTask(doc.Content[0])
}

func detectTask(root *yaml.Node) (Task, error) {
	if root == nil || root.Kind != yaml.MappingNode {
		return "", errors.New("cannot detect the task of an empty config; name the task")
	}
	if mod := mapValue(root, "MODULE"); mod != nil && mod.Kind == yaml.ScalarNode {
		if strings.Contains(mod.Value, "Pretraining") || strings.Contains(mod.Value, "AttentionVis") {
			return TaskPretrain, nil
		}
	}
	ds := mapValue(root, "DATASET")
	if ds != nil && ds.Kind == yaml.SequenceNode {
		return TaskPretrain, nil
	}
	if ds != nil && ds.Kind == yaml.MappingNode {
		if name := mapValue(ds, "DATASET"); name != nil && name.Kind == yaml.ScalarNode {
			switch v := strings.ToLower(name.Value); {
			case v == "vqa":
				return TaskVQA, nil
			case v == "vcr":
				return TaskVCR, nil
			case strings.HasPrefix(v, "refcoco"):
				return TaskRefCOCO, nil
			case v == "conceptual_captions" || v == "general_corpus" || v == "coco_captions":
				return TaskPretrain, nil
			}
		}
	}
	return "", errors.New("cannot tell the task from MODULE and DATASET.DATASET; name the task (pretrain, vqa, vcr, refcoco)")
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// merger applies YAML nodes onto a default tree.
type merger struct {
	task Task
	file string
}

func (m *merger) errorf(n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		return fmt.Errorf("config: %s:%d: %s", m.file, n.Line, msg)
	}
	return fmt.Errorf("config: %s: %s", m.file, msg)
}

// fieldFor finds the field of struct type t whose yaml tag is key and that
// exists for the task.
func fieldFor(t reflect.Type, key string, task Task) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if yamlKey(f) == key && fieldInTask(f, task) {
			return i, true
		}
	}
	return 0, false
}

func yamlKey(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	if tag == "" || tag == "-" {
		return ""
	}
	return strings.Split(tag, ",")[0]
}

func fieldInTask(f reflect.StructField, task Task) bool {
	tasks := f.Tag.Get("task")
	if tasks == "" {
		return true
	}
	for _, t := range strings.Split(tasks, ",") {
		if Task(t) == task {
			return true
		}
	}
	return false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	datasetsType = reflect.TypeOf([]Dataset(nil))
	configType   = reflect.TypeOf(Config{})
)

// mergeStruct merges mapping node n onto struct v. Nested structs (NETWORK,
// NETWORK.VLBERT, TRAIN, ...) are merged key by key; other values replace
// the default.
func (m *merger) mergeStruct(v reflect.Value, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return m.errorf(n, "%s: want a mapping", path)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return m.errorf(k, "%s: mapping key is not a string", path)
		}
		kp := joinPath(path, k.Value)
		idx, ok := fieldFor(v.Type(), k.Value, m.task)
		if !ok {
			return m.errorf(k, "unknown key %s (not in the %s config defaults)", kp, m.task)
		}
		if err := m.mergeValue(v, idx, val, kp); err != nil {
			return err
		}
	}
	return nil
}

func (m *merger) mergeValue(parent reflect.Value, idx int, val *yaml.Node, path string) error {
	fv := parent.Field(idx)
	switch {
	case parent.Type() == configType && fv.Type() == datasetsType:
		return m.mergeDatasets(parent.Addr().Interface().(*Config), val, path)
	case fv.Kind() == reflect.Struct && !isUnmarshaler(fv):
		return m.mergeStruct(fv, val, path)
	}
	// Decode into a fresh value so that a failed decode leaves the default.
	nv := reflect.New(fv.Type())
	if err := decodeScalarOrList(val, nv); err != nil {
		return m.errorf(val, "%s: %v", path, cleanYAMLError(err))
	}
	fv.Set(nv.Elem())
	return nil
}

func decodeScalarOrList(val *yaml.Node, ptr reflect.Value) error {
	el := ptr.Elem()
	if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
		// None in the original; keep an empty value of the field's type.
		switch el.Kind() {
		case reflect.Slice:
			el.Set(reflect.MakeSlice(el.Type(), 0, 0))
			return nil
		case reflect.String:
			return nil
		}
		return errors.New("null is not allowed here")
	}
	if el.Kind() == reflect.String && val.Kind == yaml.ScalarNode {
		// GPUS: 0 is an int in YAML but a string in the schema.
		el.SetString(val.Value)
		return nil
	}
	if el.Kind() == reflect.Int && val.Kind == yaml.ScalarNode && val.Tag != "!!int" {
		// yaml.v3 would truncate 1.5 to 1.
		return fmt.Errorf("%q is not an integer", val.Value)
	}
	if el.Kind() == reflect.Bool && val.Kind == yaml.ScalarNode && val.Tag == "!!int" {
		// Python truthiness: FLIP-like 0/1 flags written as numbers.
		b, err := strconv.ParseInt(val.Value, 0, 64)
		if err != nil {
			return err
		}
		el.SetBool(b != 0)
		return nil
	}
	return val.Decode(ptr.Interface())
}

func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	return strings.TrimSpace(s)
}

// mergeDatasets handles DATASET: a mapping merges onto the single default
// entry; a list (pretraining only) makes one entry per element, each
// starting from the default entry so that missing keys are filled in.
func (m *merger) mergeDatasets(c *Config, val *yaml.Node, path string) error {
	switch val.Kind {
	case yaml.MappingNode:
		if c.DatasetIsList {
			c.Datasets = []Dataset{defaultDatasetFor(m.task)}
			c.DatasetIsList = false
		}
		return m.mergeStruct(reflect.ValueOf(&c.Datasets[0]).Elem(), val, path)
	case yaml.SequenceNode:
		if m.task != TaskPretrain {
			return m.errorf(val, "%s: a list of datasets is only supported for pretraining configs", path)
		}
		if len(val.Content) == 0 {
			return m.errorf(val, "%s: empty list", path)
		}
		out := make([]Dataset, len(val.Content))
		for i, e := range val.Content {
			out[i] = defaultDatasetFor(m.task)
			if err := m.mergeStruct(reflect.ValueOf(&out[i]).Elem(), e, fmt.Sprintf("%s.%d", path, i)); err != nil {
				return err
			}
		}
		c.Datasets = out
		c.DatasetIsList = true
		return nil
	}
	return m.errorf(val, "%s: want a mapping or a list of mappings", path)
}

// isUnmarshaler reports whether a struct field decodes itself (IntOrList,
// LossScale) rather than being merged key by key.
func isUnmarshaler(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(yaml.Unmarshaler)
	return ok
}
