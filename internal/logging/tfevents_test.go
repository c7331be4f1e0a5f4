package logging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock returns a clock advancing by step per call.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	t := start
	return func() time.Time {
		cur := t
		t = t.Add(step)
		return cur
	}
}

// splitRecords parses TFRecord framing independently of the package:
// uint64 length, masked CRC-32C of it, data, masked CRC-32C of the data.
func splitRecords(t *testing.T, b []byte) [][]byte {
	t.Helper()
	tab := crc32.MakeTable(crc32.Castagnoli)
	mask := func(p []byte) uint32 {
		c := crc32.Checksum(p, tab)
		return (c>>15 | c<<17) + 0xa282ead8
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("truncated header: %d bytes left", len(b))
		}
		n := binary.LittleEndian.Uint64(b[:8])
		if got := binary.LittleEndian.Uint32(b[8:12]); got != mask(b[:8]) {
			t.Fatalf("record %d: length CRC %08x, want %08x", len(out), got, mask(b[:8]))
		}
		if uint64(len(b)) < 16+n {
			t.Fatalf("record %d: truncated data", len(out))
		}
		data := b[12 : 12+n]
		if got := binary.LittleEndian.Uint32(b[12+n : 16+n]); got != mask(data) {
			t.Fatalf("record %d: data CRC %08x, want %08x", len(out), got, mask(data))
		}
		out = append(out, data)
		b = b[16+n:]
	}
	return out
}

// protocDecode decodes one record with protoc against testdata/tensorboard.proto.
func protocDecode(t *testing.T, protoc string, data []byte) string {
	t.Helper()
	cmd := exec.Command(protoc, "-I", "testdata", "--decode=tensorboard.Event", "testdata/tensorboard.proto")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("protoc: %v: %s", err, stderr.String())
	}
	return string(out)
}

func findProtoc(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("protoc not found; CI must install protobuf-compiler")
		}
		t.Skip("protoc not installed (apt-get install protobuf-compiler); skipping the independent decode")
	}
	return p
}

var (
	reWall    = regexp.MustCompile(`(?m)^wall_time: (\S+)$`)
	reStep    = regexp.MustCompile(`(?m)^step: (\S+)$`)
	reVersion = regexp.MustCompile(`(?m)^file_version: "(.*)"$`)
	reTag     = regexp.MustCompile(`(?m)^\s+tag: "(.*)"$`)
	reSimple  = regexp.MustCompile(`(?m)^\s+simple_value: (\S+)$`)
)

func TestEventFileDecodesWithProtoc(t *testing.T) {
	protoc := findProtoc(t)
	dir := t.TempDir()
	start := time.Unix(1700000000, 250_000_000)
	w, err := newEventWriter(dir, fakeClock(start, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := filepath.Join(dir, "events.out.tfevents.1700000000."+host); w.Path() != want {
		t.Errorf("path %s, want %s", w.Path(), want)
	}
	type sc struct {
		tag  string
		val  float64
		step int64
	}
	written := []sc{
		{TagTrainLoss, 0.6931471805599453, 0},
		{LRTag(0), 1.25e-4, 0},
		{InitialLRTag(0), 5e-4, 0},
		{TagGradNorm, 231.86305236816406, 1},
		{TrainTag("MLMAccWVC"), 0.25, 12345678901},
		{ValTag("SoftAcc"), -3.5, 2},
		{"NaN-test", math.NaN(), 3},
	}
	for _, s := range written {
		if err := w.AddScalar(s.tag, s.val, s.step); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	recs := splitRecords(t, raw)
	if len(recs) != len(written)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(written)+1)
	}
	first := protocDecode(t, protoc, recs[0])
	if m := reVersion.FindStringSubmatch(first); m == nil || m[1] != FileVersion {
		t.Errorf("first record:\n%s\nwant file_version %q", first, FileVersion)
	}
	if m := reWall.FindStringSubmatch(first); m == nil || math.Abs(parseF(t, m[1])-1700000000.25) > 1e-6 {
		t.Errorf("first record wall_time: %s", first)
	}
	for i, s := range written {
		txt := protocDecode(t, protoc, recs[i+1])
		step := int64(0)
		if m := reStep.FindStringSubmatch(txt); m != nil {
			step, _ = strconv.ParseInt(m[1], 10, 64)
		}
		tag := reTag.FindStringSubmatch(txt)
		val := reSimple.FindStringSubmatch(txt)
		wall := reWall.FindStringSubmatch(txt)
		if tag == nil || val == nil || wall == nil {
			t.Fatalf("record %d decodes to:\n%s", i+1, txt)
		}
		// protoc prints floats with 9 significant digits: exact for float32.
		got := float32(parseF(t, val[1]))
		want := float32(s.val)
		if tag[1] != s.tag || step != s.step || !(got == want || got != got && want != want) {
			t.Errorf("record %d: tag %q step %d value %v; want %q %d %v", i+1, tag[1], step, got, s.tag, s.step, want)
		}
		if wt := parseF(t, wall[1]); wt < 1700000001.25 || wt > 1700000100 {
			t.Errorf("record %d: wall_time %v", i+1, wt)
		}
	}
	// Our own reader agrees.
	evs, err := ReadEvents(bytes.NewReader(raw))
	if err != nil || len(evs) != len(written)+1 || evs[4].Scalars[0].Tag != TagGradNorm || evs[4].Step != 1 {
		t.Errorf("ReadEvents: %v, %+v", err, evs)
	}
}

func parseF(t *testing.T, s string) float64 {
	t.Helper()
	switch s {
	case "nan", "-nan":
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("protoc printed %q", s)
	}
	return f
}

func TestEventWriterFlushing(t *testing.T) {
	dir := t.TempDir()
	w, err := newEventWriter(dir, fakeClock(time.Unix(1000, 0), time.Second))
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		st, err := os.Stat(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	w.FlushEvery = 5 * time.Second
	base := size() // the file_version event is flushed at once
	if base == 0 {
		t.Fatal("file_version event not flushed")
	}
	for i := 0; i < 3; i++ {
		w.AddScalar("x", float64(i), int64(i))
	}
	if size() != base {
		t.Error("events flushed before FlushEvery elapsed")
	}
	for i := 3; i < 6; i++ {
		w.AddScalar("x", float64(i), int64(i))
	}
	if size() == base {
		t.Error("events not flushed after FlushEvery")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.AddScalar("x", 1, 1); err == nil {
		t.Error("AddScalar after Close: want an error")
	}
	if err := w.Close(); err != nil {
		t.Error("second Close:", err)
	}
}

func TestReadEventsErrors(t *testing.T) {
	var b []byte
	b = appendRecord(b, MarshalEvent(Event{WallTime: 1, FileVersion: FileVersion}))
	b = appendRecord(b, MarshalEvent(Event{WallTime: 2, Step: 7, Scalars: []Scalar{{"a", 1}, {"b", 2}}}))
	evs, err := ReadEvents(bytes.NewReader(b))
	if err != nil || len(evs) != 2 || len(evs[1].Scalars) != 2 || evs[1].Scalars[1] != (Scalar{"b", 2}) || evs[1].Step != 7 {
		t.Fatalf("round trip: %v %+v", err, evs)
	}
	trunc := b[:len(b)-3]
	if evs, err := ReadEvents(bytes.NewReader(trunc)); err == nil || len(evs) != 1 {
		t.Errorf("truncated: %v, %d events", err, len(evs))
	}
	bad := bytes.Clone(b)
	bad[20] ^= 1
	if _, err := ReadEvents(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted data: %v", err)
	}
	huge := make([]byte, 12)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	binary.LittleEndian.PutUint32(huge[8:], maskedCRC(huge[:8]))
	if _, err := ReadEvents(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("huge record: %v", err)
	}
}

func FuzzReadEvents(f *testing.F) {
	var b []byte
	b = appendRecord(b, MarshalEvent(Event{WallTime: 1, FileVersion: FileVersion}))
	b = appendRecord(b, MarshalEvent(Event{WallTime: 2, Step: 7, Scalars: []Scalar{{"a", 1}}}))
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := ReadEvents(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to events that decode the same.
		var out []byte
		for _, e := range evs {
			out = appendRecord(out, MarshalEvent(e))
		}
		again, err := ReadEvents(bytes.NewReader(out))
		if err != nil || len(again) != len(evs) {
			t.Fatalf("re-read: %v (%d vs %d)", err, len(again), len(evs))
		}
	})
}
