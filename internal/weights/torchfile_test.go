package weights

// A minimal torch.save writer for tests: it emits the same opcodes as
// torch 1.x (pickle protocol 2) so that tests can build small legacy and zip
// checkpoints with chosen offsets, strides and dtypes.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"testing"
)

type pyTuple []any
type pyList []any
type pyKV struct {
	k string
	v any
}
type pyDict []pyKV  // plain dict
type pyODict []pyKV // collections.OrderedDict
type pyBig struct{ v *big.Int }

// pyObj is module.name(*args) followed, if state is set, by BUILD(state):
// how pickle stores arbitrary objects (numpy scalars, config objects).
type pyObj struct {
	module, name string
	args         pyTuple
	state        any
}

// pyPut stores v in memo slot idx (BINPUT); pyGet pushes it again (BINGET).
type pyPut struct {
	idx byte
	v   any
}
type pyGet byte

// pyParam wraps a tensor in torch._utils._rebuild_parameter (nn.Parameter).
type pyParam struct{ t *pyTensor }

// pyStorage is one serialized storage, shared by the tensors that point to it.
type pyStorage struct {
	key   string
	class string // FloatStorage, HalfStorage, ...
	numel int
	data  []byte
}

type pyTensor struct {
	view         pyTuple // legacy view_metadata (view_key, offset, view_size); nil writes None
	st           *pyStorage
	offset       int
	size, stride []int
}

// contiguous returns a row-major tensor over the whole storage.
func contiguous(st *pyStorage, size ...int) *pyTensor {
	stride := make([]int, len(size))
	acc := 1
	for i := len(size) - 1; i >= 0; i-- {
		stride[i] = acc
		acc *= size[i]
	}
	return &pyTensor{st: st, size: size, stride: stride}
}

func f32Storage(key string, vals ...float32) *pyStorage {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return &pyStorage{key: key, class: "FloatStorage", numel: len(vals), data: b}
}

func i64Storage(key string, vals ...int64) *pyStorage {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return &pyStorage{key: key, class: "LongStorage", numel: len(vals), data: b}
}

type pickleWriter struct {
	bytes.Buffer
	legacy   bool         // persistent ids carry a sixth element (view_metadata None)
	storages []*pyStorage // in first-use order
	seen     map[string]bool
}

func (w *pickleWriter) str(s string) {
	w.WriteByte('X')
	binary.Write(w, binary.LittleEndian, uint32(len(s)))
	w.WriteString(s)
}

func (w *pickleWriter) global(module, name string) {
	w.WriteString("c" + module + "\n" + name + "\n")
}

func (w *pickleWriter) value(v any) {
	switch x := v.(type) {
	case nil:
		w.WriteByte('N')
	case bool:
		if x {
			w.WriteByte(0x88)
		} else {
			w.WriteByte(0x89)
		}
	case int:
		w.WriteByte('J')
		binary.Write(w, binary.LittleEndian, int32(x))
	case pyBig:
		b := x.v.Bytes() // positive only
		le := make([]byte, len(b)+1)
		for i := range b {
			le[i] = b[len(b)-1-i]
		}
		if le[len(b)-1]&0x80 == 0 {
			le = le[:len(b)]
		}
		w.WriteByte(0x8a)
		w.WriteByte(byte(len(le)))
		w.Write(le)
	case float64:
		w.WriteByte('G')
		binary.Write(w, binary.BigEndian, x)
	case string:
		w.str(x)
	case pyTuple:
		w.WriteByte('(')
		for _, it := range x {
			w.value(it)
		}
		w.WriteByte('t')
	case []int:
		w.WriteByte('(')
		for _, it := range x {
			w.value(it)
		}
		w.WriteByte('t')
	case pyList:
		w.WriteString("](")
		for _, it := range x {
			w.value(it)
		}
		w.WriteByte('e')
	case pyDict:
		w.WriteString("}(")
		for _, kv := range x {
			w.str(kv.k)
			w.value(kv.v)
		}
		w.WriteByte('u')
	case map[int]any: // int-keyed dict (optimizer state), keys 0..len-1
		w.WriteString("}(")
		for i := 0; i < len(x); i++ {
			w.value(i)
			w.value(x[i])
		}
		w.WriteByte('u')
	case pyODict:
		w.global("collections", "OrderedDict")
		w.WriteString(")R(")
		for _, kv := range x {
			w.str(kv.k)
			w.value(kv.v)
		}
		w.WriteByte('u')
	case pyObj:
		w.global(x.module, x.name)
		w.value(x.args)
		w.WriteByte('R')
		if x.state != nil {
			w.value(x.state)
			w.WriteByte('b')
		}
	case pyPut:
		w.value(x.v)
		w.Write([]byte{'q', x.idx})
	case pyGet:
		w.Write([]byte{'h', byte(x)})
	case pyParam:
		w.global("torch._utils", "_rebuild_parameter")
		w.WriteByte('(')
		w.value(x.t)
		w.value(true)
		w.value(pyODict{})
		w.WriteString("tR")
	case *pyTensor:
		w.global("torch._utils", "_rebuild_tensor_v2")
		w.WriteString("((")
		w.str("storage")
		w.global("torch", x.st.class)
		w.str(x.st.key)
		w.str("cuda:0")
		w.value(x.st.numel)
		if w.legacy && x.view != nil {
			w.value(x.view)
		} else if w.legacy {
			w.WriteByte('N')
		}
		w.WriteString("tQ")
		if !w.seen[x.st.key] {
			w.seen[x.st.key] = true
			w.storages = append(w.storages, x.st)
		}
		w.value(x.offset)
		w.value(x.size)
		w.value(x.stride)
		w.value(false)
		w.value(pyODict{})
		w.WriteString("tR")
	default:
		panic("pickleWriter: unsupported value")
	}
}

func pickleOf(v any, legacy bool) *pickleWriter {
	w := &pickleWriter{legacy: legacy, seen: map[string]bool{}}
	w.WriteString("\x80\x02")
	w.value(v)
	w.WriteByte('.')
	return w
}

// legacyFile serializes obj like torch.save(..., _use_new_zipfile_serialization=False).
func legacyFile(obj any) []byte {
	var out bytes.Buffer
	magic, _ := new(big.Int).SetString("1950a86a20f9469cfc6c", 16)
	out.Write(pickleOf(pyBig{magic}, false).Bytes())
	out.Write(pickleOf(1001, false).Bytes())
	out.Write(pickleOf(pyDict{{"protocol_version", 1001}, {"little_endian", true},
		{"type_sizes", pyDict{{"short", 2}, {"int", 4}, {"long", 4}}}}, false).Bytes())
	main := pickleOf(obj, true)
	out.Write(main.Bytes())
	keys := pyList{}
	for _, st := range main.storages {
		keys = append(keys, st.key)
	}
	out.Write(pickleOf(keys, false).Bytes())
	for _, st := range main.storages {
		binary.Write(&out, binary.LittleEndian, int64(st.numel))
		out.Write(st.data)
	}
	return out.Bytes()
}

// zipFile serializes obj like torch.save in the zip format, under an archive
// folder named archive.
func zipFile(t testing.TB, obj any, archive string) []byte {
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	put := func(name string, b []byte) {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: archive + "/" + name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
	main := pickleOf(obj, false)
	put("data.pkl", main.Bytes())
	for _, st := range main.storages {
		put("data/"+st.key, st.data)
	}
	put("version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zipWith(t testing.TB, files map[string][]byte) []byte {
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for name, b := range files {
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
	}
	zw.Close()
	return out.Bytes()
}
