package vqa

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/vlbert/vlbert/internal/data"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// The pythia imdb files of DATASET.USE_IMDB (vqa/data/datasets/vqa.py):
// {DATASET_PATH}/vqa/vqa_imdb/imdb_{set}.npy, a numpy object array saved with
// allow_pickle whose first element is an info dict and every other one a
// question: image_id, question_id, question_tokens (words) and, outside test
// mode, answers (the human answers). With USE_IMDB the question is the imdb's
// words joined by spaces and re-tokenized, and the answer vocabulary is taken
// as written (no punctuation processing).

// MaxIMDBBytes bounds an imdb file (the VQA v2 train imdb is ~300 MB).
const MaxIMDBBytes = 2 << 30

// IMDBFile is the imdb path of image set set.
func (c Catalog) IMDBFile(set string) string {
	return filepath.Join(c.DataPath, "vqa", "vqa_imdb", "imdb_"+set+".npy")
}

// ReadIMDB reads the questions of an imdb file; set names their COCO folder.
func ReadIMDB(path, set string, testMode bool) ([]Entry, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: DATASET.USE_IMDB: %w", err)
	}
	if st.Size() > MaxIMDBBytes {
		return nil, fmt.Errorf("vqa: %s: %d bytes, more than the %d an imdb may have", path, st.Size(), MaxIMDBBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	entries, err := ParseIMDB(b, testMode)
	if err != nil {
		return nil, fmt.Errorf("vqa: %s: %w", path, err)
	}
	for i := range entries {
		entries[i].ImageSet = set
	}
	return entries, nil
}

// ParseIMDB decodes an imdb .npy file's bytes.
func ParseIMDB(b []byte, testMode bool) ([]Entry, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("not a .npy file")
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d", b[6])
	}
	if hlen > len(b)-off {
		return nil, fmt.Errorf("truncated .npy header")
	}
	if h := string(b[off : off+hlen]); !strings.Contains(h, "'|O'") {
		return nil, fmt.Errorf("header %q: want an object array ('|O') saved with allow_pickle", strings.TrimSpace(h))
	}
	v, err := unpickle(b[off+hlen:])
	if err != nil {
		return nil, fmt.Errorf("unpickling the object array: %w", err)
	}
	arr, ok := v.(*npArray)
	if !ok || arr.items == nil {
		return nil, fmt.Errorf("the pickle holds %T, want a numpy object array", v)
	}
	if arr.items.Len() < 1 {
		return nil, fmt.Errorf("empty imdb (no info element)")
	}
	entries := make([]Entry, 0, arr.items.Len()-1)
	for i := 1; i < arr.items.Len(); i++ {
		e, err := imdbEntry(arr.items.Get(i), testMode)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// unpickle runs gopickle on b; gopickle indexes its stack without checks, so a
// malformed pickle panics inside it, which becomes an error here.
func unpickle(b []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle (%v)", r)
		}
	}()
	if err := checkPickleLengths(b); err != nil {
		return nil, err
	}
	u := pickle.NewUnpickler(bytes.NewReader(b))
	u.FindClass = findNumpyClass
	return u.Load()
}

func imdbEntry(v any, testMode bool) (Entry, error) {
	d, ok := v.(*types.Dict)
	if !ok {
		return Entry{}, fmt.Errorf("%T, want a dict", v)
	}
	var e Entry
	var err error
	if e.ImageID, err = dictInt(d, "image_id"); err != nil {
		return e, err
	}
	if e.QuestionID, err = dictInt(d, "question_id"); err != nil {
		return e, err
	}
	toks, err := dictStrings(d, "question_tokens")
	if err != nil {
		return e, err
	}
	e.Question = strings.Join(toks, " ")
	if !testMode {
		if e.Answers, err = dictStrings(d, "answers"); err != nil {
			return e, err
		}
	}
	return e, nil
}

func dictInt(d *types.Dict, key string) (int64, error) {
	v, ok := d.Get(key)
	if !ok {
		return 0, fmt.Errorf("no %q", key)
	}
	if n, ok := data.PickleInt(v); ok {
		return n, nil
	}
	return 0, fmt.Errorf("%q is %v (%T), want an integer", key, v, v)
}

func dictStrings(d *types.Dict, key string) ([]string, error) {
	v, ok := d.Get(key)
	if !ok {
		return nil, fmt.Errorf("no %q", key)
	}
	l, ok := v.(*types.List)
	if !ok {
		return nil, fmt.Errorf("%q is %T, want a list", key, v)
	}
	out := make([]string, l.Len())
	for i := range out {
		s, ok := l.Get(i).(string)
		if !ok {
			return nil, fmt.Errorf("%q[%d] is %T, want a string", key, i, l.Get(i))
		}
		out[i] = s
	}
	return out, nil
}

// The numpy globals an object array's pickle names: _reconstruct and ndarray
// (the array, filled by BUILD), dtype, and scalar (numpy integers and floats
// inside the dicts). Any other global is an error.
func findNumpyClass(module, name string) (any, error) {
	switch module + "." + name {
	case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
		return npReconstruct{}, nil
	case "numpy.ndarray":
		return npMarker{}, nil
	case "numpy.dtype":
		return npDTypeClass{}, nil
	case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
		return npScalar{}, nil
	}
	return nil, fmt.Errorf("unexpected global %s.%s in an imdb", module, name)
}

type npMarker struct{}

func (npMarker) Call(...any) (any, error) { return nil, fmt.Errorf("numpy.ndarray called directly") }

type npReconstruct struct{}

func (npReconstruct) Call(...any) (any, error) { return &npArray{}, nil }

// npArray is an ndarray; BUILD's state is (version, shape, dtype, fortran, data).
type npArray struct{ items *types.List }

func (a *npArray) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return fmt.Errorf("ndarray state %T, want a 5-tuple", state)
	}
	l, ok := t.Get(4).(*types.List)
	if !ok {
		return fmt.Errorf("ndarray data %T, want the list of an object array", t.Get(4))
	}
	a.items = l
	return nil
}

type npDTypeClass struct{}

func (npDTypeClass) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("numpy.dtype without arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("numpy.dtype(%T)", args[0])
	}
	return &npDType{code: s}, nil
}

type npDType struct {
	code  string
	order string
}

func (d *npDType) PySetState(state any) error {
	if t, ok := state.(*types.Tuple); ok && t.Len() > 1 {
		d.order, _ = t.Get(1).(string)
	}
	return nil
}

type npScalar struct{}

// Call decodes numpy.core.multiarray.scalar(dtype, raw bytes).
func (npScalar) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("numpy scalar with %d arguments", len(args))
	}
	dt, ok := args[0].(*npDType)
	if !ok {
		return nil, fmt.Errorf("numpy scalar of %T", args[0])
	}
	var raw []byte
	switch r := args[1].(type) {
	case []byte:
		raw = r
	case string:
		raw = []byte(r)
	default:
		return nil, fmt.Errorf("numpy scalar data %T", args[1])
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if dt.order == ">" {
		bo = binary.BigEndian
	}
	want := map[string]int{"i8": 8, "u8": 8, "i4": 4, "u4": 4, "i2": 2, "u2": 2, "i1": 1, "u1": 1, "f8": 8, "f4": 4}[dt.code]
	if want == 0 || len(raw) != want {
		return nil, fmt.Errorf("numpy scalar %q with %d bytes", dt.code, len(raw))
	}
	switch dt.code {
	case "i8":
		return int64(bo.Uint64(raw)), nil
	case "u8":
		return int64(bo.Uint64(raw)), nil
	case "i4":
		return int64(int32(bo.Uint32(raw))), nil
	case "u4":
		return int64(bo.Uint32(raw)), nil
	case "i2":
		return int64(int16(bo.Uint16(raw))), nil
	case "u2":
		return int64(bo.Uint16(raw)), nil
	case "i1":
		return int64(int8(raw[0])), nil
	case "u1":
		return int64(raw[0]), nil
	case "f8":
		return math.Float64frombits(bo.Uint64(raw)), nil
	}
	return float64(math.Float32frombits(bo.Uint32(raw))), nil
}

// checkPickleLengths walks the opcodes of a pickle and rejects any argument
// whose length prefix points past the end of the data: gopickle allocates a
// prefixed length before reading it, so a forged length would exhaust memory.
// Unknown opcodes stop the walk (gopickle then reports them).
func checkPickleLengths(b []byte) error {
	lenArg := func(i, n int) (int, error) { // a little-endian n-byte length at b[i:]
		if i+n > len(b) {
			return 0, fmt.Errorf("truncated pickle")
		}
		var l uint64
		for k := n - 1; k >= 0; k-- {
			l = l<<8 | uint64(b[i+k])
		}
		if l > uint64(len(b)-i-n) {
			return 0, fmt.Errorf("pickle argument of %d bytes past the end of the data", l)
		}
		return int(l), nil
	}
	line := func(i int) int { // index after the next newline
		if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(b)
	}
	for i := 0; i < len(b); {
		op := b[i]
		i++
		switch op {
		case 'K', 'q', 'h', 0x80, 0x82: // 1-byte argument
			i++
		case 'M', 0x83:
			i += 2
		case 'J', 'r', 'j', 0x84:
			i += 4
		case 'G':
			i += 8
		case 'U', 'C', 0x8c, 0x8a: // 1-byte length
			n, err := lenArg(i, 1)
			if err != nil {
				return err
			}
			i += 1 + n
		case 'T', 'X', 'B', 0x8b: // 4-byte length
			n, err := lenArg(i, 4)
			if err != nil {
				return err
			}
			i += 4 + n
		case 0x8d, 0x8e, 0x96: // 8-byte length
			n, err := lenArg(i, 8)
			if err != nil {
				return err
			}
			i += 8 + n
		case 0x95: // FRAME: an 8-byte frame size, then the frame's opcodes
			if _, err := lenArg(i, 8); err != nil {
				return err
			}
			i += 8
		case 'I', 'L', 'F', 'S', 'V', 'p', 'g', 'P':
			i = line(i)
		case 'c', 'i', 0x93:
			if op != 0x93 { // STACK_GLOBAL takes its names from the stack
				i = line(line(i))
			}
		case '.':
			return nil
		case '(', ')', ']', '}', 'N', 0x88, 0x89, 'a', 'e', 's', 'u', 't', 0x85, 0x86, 0x87, 'R', 'b', 'o',
			'0', '1', '2', 0x81, 0x92, 0x94, 0x8f, 0x90, 0x91, 0x97, 0x98, 'Q', 'l', 'd':
		default:
			return nil
		}
	}
	return nil
}
