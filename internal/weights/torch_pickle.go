package weights

import (
	"fmt"
	"math"
	"math/big"

	"github.com/nlpodyssey/gopickle/types"
)

// session holds the state of one unpickling: the storages the pickle refers
// to (their bytes are filled in afterwards) and the tensors built on them.
type session struct {
	storages map[string]*rootStorage
	order    []string // storage keys in first-use order
	tensors  map[*tensorRef]*Tensor
	views    map[string]*Tensor // view signature -> first tensor materialised with it
	viewOf   map[*Tensor]string
	format   string // "zip" or "legacy"
}

func newSession() *session {
	return &session{storages: map[string]*rootStorage{}, tensors: map[*tensorRef]*Tensor{},
		views: map[string]*Tensor{}, viewOf: map[*Tensor]string{}}
}

// rootStorage is one serialized storage: numel elements of dtype.
type rootStorage struct {
	key   string
	dtype string
	numel int64
	raw   []byte // little-endian elements, set after unpickling
}

// storageView is what a persistent id resolves to: a root storage, seen
// from an element offset (non-zero only for pre-0.4 view metadata).
type storageView struct {
	root   *rootStorage
	offset int64
	numel  int64
}

// storageClass stands for torch.<Type>Storage.
type storageClass struct{ dtype string }

func (c *storageClass) Call(args ...any) (any, error) {
	return nil, fmt.Errorf("constructing a %s storage directly is not supported", c.dtype)
}

// tensorRef is a tensor as the pickle describes it; it becomes a Tensor once
// the storage bytes are known.
type tensorRef struct {
	storage *storageView
	offset  int64
	size    []int64
	stride  []int64
}

var storageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
	"ByteStorage": "U8", "BoolStorage": "BOOL",
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// and the older _rebuild_tensor(storage, storage_offset, size, stride).
type rebuildTensor struct{ minArgs int }

func (rb rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < rb.minArgs {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments, want at least %d", len(args), rb.minArgs)
	}
	st, ok := args[0].(*storageView)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: first argument is a %T, not a storage", args[0])
	}
	off, ok := pyInt(args[1])
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor: bad storage offset %v", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: stride: %w", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in length", size, stride)
	}
	return &tensorRef{storage: st, offset: off, size: size, stride: stride}, nil
}

// rebuildParameter implements torch._utils._rebuild_parameter(data,
// requires_grad, backward_hooks): a Parameter is its data here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

// opaqueClass stands for any other global; its instances keep nothing, so
// that unrelated objects in a checkpoint (numpy scalars, config objects)
// load and are ignored.
type opaqueClass struct{ module, name string }

type opaqueObject struct{ class *opaqueClass }

func (c *opaqueClass) Call(args ...any) (any, error)  { return &opaqueObject{c}, nil }
func (c *opaqueClass) PyNew(args ...any) (any, error) { return &opaqueObject{c}, nil }
func (o *opaqueObject) PySetState(any) error          { return nil }
func (o *opaqueObject) PyDictSet(k, v any) error      { return nil }

func (s *session) findClass(module, name string) (any, error) {
	if module == "torch" {
		if dt, ok := storageDTypes[name]; ok {
			return &storageClass{dtype: dt}, nil
		}
	}
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{minArgs: 6}, nil
	case "torch._utils._rebuild_tensor":
		return rebuildTensor{minArgs: 4}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	return &opaqueClass{module, name}, nil
}

// persistentLoad resolves ('storage', <Type>Storage, key, location, numel[,
// view_metadata]). The location ('cpu', 'cuda:0') is ignored.
func (s *session) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, fmt.Errorf("persistent id %v is not a storage tuple", pid)
	}
	if tag, _ := t.Get(0).(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id of type %v is not supported", t.Get(0))
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("persistent id: unsupported storage type %v", describe(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("persistent id: storage key %v is not a string", t.Get(2))
	}
	numel, ok := pyInt(t.Get(4))
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id: storage %q: bad element count %v", key, t.Get(4))
	}
	root := s.storages[key]
	if root == nil {
		root = &rootStorage{key: key, dtype: cls.dtype, numel: numel}
		s.storages[key] = root
		s.order = append(s.order, key)
	} else if root.dtype != cls.dtype || root.numel != numel {
		return nil, fmt.Errorf("storage %q is declared as %d×%s and as %d×%s", key, root.numel, root.dtype, numel, cls.dtype)
	}
	view := &storageView{root: root, numel: numel}
	if t.Len() >= 6 && t.Get(5) != nil {
		// Pre-0.4 files: view_metadata = (view_key, offset, view_size).
		vm, ok := t.Get(5).(*types.Tuple)
		if !ok || vm.Len() != 3 {
			return nil, fmt.Errorf("storage %q: bad view metadata %v", key, t.Get(5))
		}
		off, ok1 := pyInt(vm.Get(1))
		n, ok2 := pyInt(vm.Get(2))
		if !ok1 || !ok2 || off < 0 || n < 0 || off > numel || n > numel-off {
			return nil, fmt.Errorf("storage %q: view [%v, +%v) outside its %d elements", key, vm.Get(1), vm.Get(2), numel)
		}
		view.offset, view.numel = off, n
	}
	return view, nil
}

// maxExpandedElems bounds a tensor that has more elements than its storage.
const maxExpandedElems = 1 << 20

// materialize copies the elements a tensorRef selects (offset and strides
// applied) into a new contiguous Tensor.
func (s *session) materialize(ref *tensorRef) (*Tensor, error) {
	if t := s.tensors[ref]; t != nil {
		return t, nil
	}
	st := ref.storage
	if st.root.raw == nil {
		return nil, fmt.Errorf("storage %q has no data", st.root.key)
	}
	const maxElems = 1 << 40
	shape := make([]int, len(ref.size))
	n, last := int64(1), ref.offset // last: index of the last element selected
	for i, d := range ref.size {
		if d < 0 || ref.stride[i] < 0 {
			return nil, fmt.Errorf("storage %q: negative size %v or stride %v", st.root.key, ref.size, ref.stride)
		}
		if d > 0 && n > maxElems/d {
			return nil, fmt.Errorf("storage %q: tensor size %v too large", st.root.key, ref.size)
		}
		n *= d
		shape[i] = int(d)
	}
	dt := st.root.dtype
	t := &Tensor{Shape: shape, DType: dt}
	if n > 0 {
		for i, d := range ref.size {
			if ref.stride[i] > 0 && d-1 > (maxElems-last)/ref.stride[i] {
				return nil, fmt.Errorf("storage %q: strides %v overflow", st.root.key, ref.stride)
			}
			last += (d - 1) * ref.stride[i]
		}
		if last >= st.numel {
			return nil, fmt.Errorf("storage %q: tensor of size %v, stride %v at offset %d reads element %d of %d",
				st.root.key, ref.size, ref.stride, ref.offset, last, st.numel)
		}
		// A stride-0 (expanded) tensor may have more elements than its
		// storage; allow that only for small tensors so that a few bytes of
		// file cannot demand gigabytes.
		if n > max(st.numel, maxExpandedElems) {
			return nil, fmt.Errorf("storage %q: tensor of size %v is larger than its storage allows", st.root.key, ref.size)
		}
	}
	if isFloatDType(dt) {
		t.F32 = make([]float32, n)
	} else {
		t.I64 = make([]int64, n)
	}
	if n == 0 {
		s.tensors[ref] = t
		return t, nil
	}
	es := int64(dtypeSize(dt))
	base := st.offset + ref.offset // in elements of the root storage
	span := last - ref.offset + 1
	raw := st.root.raw[base*es : (base+span)*es]
	if isRowMajor(ref.size, ref.stride) { // contiguous view: decode directly
		decodeElements(dt, raw, t.F32, t.I64)
	} else {
		gatherStrided(t, raw, ref.size, ref.stride, span)
	}
	s.tensors[ref] = t
	s.viewOf[t] = fmt.Sprintf("%s|%d|%v|%v", st.root.key, base, ref.size, ref.stride)
	return t, nil
}

// isRowMajor reports whether strides are the C-order strides of size
// (dimensions of size 1 may have any stride).
func isRowMajor(size, stride []int64) bool {
	want := int64(1)
	for d := len(size) - 1; d >= 0; d-- {
		if size[d] != 1 && stride[d] != want {
			return false
		}
		want *= size[d]
	}
	return true
}

// gatherStrided decodes the span elements of raw and picks the strided ones
// in row-major order.
func gatherStrided(t *Tensor, raw []byte, size, stride []int64, span int64) {
	var f32 []float32
	var i64 []int64
	if t.F32 != nil {
		f32 = make([]float32, span)
	} else {
		i64 = make([]int64, span)
	}
	decodeElements(t.DType, raw, f32, i64)
	idx := make([]int64, len(size))
	var src int64
	for dst := range max(len(t.F32), len(t.I64)) {
		if f32 != nil {
			t.F32[dst] = f32[src]
		} else {
			t.I64[dst] = i64[src]
		}
		for d := len(size) - 1; d >= 0; d-- { // odometer step
			idx[d]++
			src += stride[d]
			if idx[d] < size[d] {
				break
			}
			src -= idx[d] * stride[d]
			idx[d] = 0
		}
	}
}

// resolve replaces every tensorRef reachable through dicts, lists and tuples
// of the unpickled object by its Tensor. It mutates the containers in place
// and visits each container once, so cycles built with the memo terminate.
func (s *session) resolve(obj any) (any, error) {
	seen := map[any]bool{}
	var walk func(v any, depth int) (any, error)
	walk = func(v any, depth int) (any, error) {
		if depth > 64 {
			return nil, fmt.Errorf("object nesting deeper than 64 levels")
		}
		switch x := v.(type) {
		case *tensorRef:
			return s.materialize(x)
		case *types.Dict:
			if seen[x] {
				return x, nil
			}
			seen[x] = true
			for i := range *x {
				e := &(*x)[i]
				var err error
				if e.Value, err = walk(e.Value, depth+1); err != nil {
					return nil, err
				}
			}
		case *types.OrderedDict:
			if seen[x] {
				return x, nil
			}
			seen[x] = true
			for el := x.List.Front(); el != nil; el = el.Next() {
				e := el.Value.(*types.OrderedDictEntry)
				var err error
				if e.Value, err = walk(e.Value, depth+1); err != nil {
					return nil, err
				}
			}
		case *types.List:
			if seen[x] {
				return x, nil
			}
			seen[x] = true
			for i := range *x {
				var err error
				if (*x)[i], err = walk((*x)[i], depth+1); err != nil {
					return nil, err
				}
			}
		case *types.Tuple:
			if seen[x] {
				return x, nil
			}
			seen[x] = true
			for i := range *x {
				var err error
				if (*x)[i], err = walk((*x)[i], depth+1); err != nil {
					return nil, err
				}
			}
		}
		return v, nil
	}
	return walk(obj, 0)
}

// pyInt accepts a Python int (int or small *big.Int) or an integral bool.
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// pyFloat accepts a Python float or int, or a one-element float tensor.
func pyFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case *Tensor:
		if x.Numel() == 1 {
			if x.F32 != nil {
				return float64(x.F32[0]), true
			}
			return float64(x.I64[0]), true
		}
		return 0, false
	}
	if i, ok := pyInt(v); ok {
		return float64(i), true
	}
	return math.NaN(), false
}

func intTuple(v any) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%v is not a tuple", describe(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := pyInt(it)
		if !ok {
			return nil, fmt.Errorf("element %d (%v) is not an int", i, describe(it))
		}
		out[i] = n
	}
	return out, nil
}

// describe names a Python value's type for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case *opaqueClass:
		return x.module + "." + x.name
	case *opaqueObject:
		return x.class.module + "." + x.class.name + " object"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprintf("%T", v)
}
