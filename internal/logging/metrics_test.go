package logging

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsAppendAndCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	m, err := OpenMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		{Step: 0, Epoch: 0, Time: 1700000000.5, Metrics: map[string]float64{"Train-Loss": 0.5, "LR/Group_0": 1.25e-4}},
		{Step: 1, Epoch: 0, Time: 1700000001, Metrics: map[string]float64{"Train-Loss": math.NaN(), "x": math.Inf(1), "y": math.Inf(-1)}},
	}
	for _, r := range recs {
		if err := m.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Error("lines written before Sync (want buffering)")
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != `{"step":0,"epoch":0,"time":1700000000.500,"metrics":{"LR/Group_0":0.000125,"Train-Loss":0.5}}` {
		t.Errorf("file:\n%s", data)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash mid-line leaves a partial tail: readers ignore it and a
	// reopened writer cuts it off before appending.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":2,"epo`)
	f.Close()
	got, err := ReadMetrics(bytes.NewReader(mustRead(t, path)))
	if err != nil || len(got) != 2 {
		t.Fatalf("read with partial tail: %v, %d records", err, len(got))
	}
	if got[0].Metrics["LR/Group_0"] != 1.25e-4 || !math.IsNaN(got[1].Metrics["Train-Loss"]) ||
		!math.IsInf(got[1].Metrics["x"], 1) || !math.IsInf(got[1].Metrics["y"], -1) || got[1].Step != 1 {
		t.Errorf("records %+v", got)
	}
	m, err = OpenMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Write(Record{Step: 2, Epoch: 1, Metrics: map[string]float64{"Val-Acc": 0.75}})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	got, err = ReadMetrics(bytes.NewReader(mustRead(t, path)))
	if err != nil || len(got) != 3 || got[2].Metrics["Val-Acc"] != 0.75 || got[2].Epoch != 1 {
		t.Fatalf("after reopen: %v %+v", err, got)
	}
	if err := m.Write(Record{}); err == nil {
		t.Error("Write after Close: want an error")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadMetricsErrors(t *testing.T) {
	for _, in := range []string{
		"{\"step\":1}\nnot json\n",
		"{\"step\":1,\"metrics\":{\"a\":\"x\"}}\n",
		"{\"step\":1,\"metrics\":{\"a\":[1]}}\n",
	} {
		if _, err := ReadMetrics(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: err %v, want one naming the line", in, err)
		}
	}
	long := strings.Repeat("x", MaxMetricsLine+10) + "\n"
	if _, err := ReadMetrics(strings.NewReader(long)); err == nil {
		t.Error("overlong line: want an error")
	}
}

func FuzzReadMetrics(f *testing.F) {
	f.Add([]byte("{\"step\":1,\"epoch\":0,\"time\":1.5,\"metrics\":{\"a\":\"NaN\",\"b\":2}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadMetrics(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		for _, r := range recs {
			b, _ := r.MarshalJSON()
			buf.Write(b)
			buf.WriteByte('\n')
		}
		again, err := ReadMetrics(&buf)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-read: %v", err)
		}
	})
}
