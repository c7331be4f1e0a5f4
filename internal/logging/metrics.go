package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
)

// Record is one line of the metrics file.
type Record struct {
	Step    int64              `json:"step"`  // global batch number
	Epoch   int                `json:"epoch"` // 0-based
	Time    float64            `json:"time"`  // wall time, seconds since the Unix epoch
	Metrics map[string]float64 `json:"-"`     // tag -> value, e.g. "Train-Loss"
}

// MarshalJSON writes {"step":..,"epoch":..,"time":..,"metrics":{...}} with
// sorted metric names; NaN and ±Inf (which JSON lacks) become the strings
// "NaN", "+Inf", "-Inf".
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"step":%d,"epoch":%d,"time":%s,"metrics":{`, r.Step, r.Epoch, strconv.FormatFloat(r.Time, 'f', 3, 64))
	names := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		b.WriteString(formatJSONFloat(r.Metrics[k]))
	}
	b.WriteString("}}")
	return b.Bytes(), nil
}

func formatJSONFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return `"NaN"`
	case math.IsInf(v, 1):
		return `"+Inf"`
	case math.IsInf(v, -1):
		return `"-Inf"`
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Record) UnmarshalJSON(data []byte) error {
	var raw struct {
		Step    int64                      `json:"step"`
		Epoch   int                        `json:"epoch"`
		Time    float64                    `json:"time"`
		Metrics map[string]json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*r = Record{Step: raw.Step, Epoch: raw.Epoch, Time: raw.Time, Metrics: make(map[string]float64, len(raw.Metrics))}
	for k, v := range raw.Metrics {
		var f float64
		if err := json.Unmarshal(v, &f); err == nil {
			r.Metrics[k] = f
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("metric %q: %s is not a number", k, v)
		}
		switch s {
		case "NaN":
			r.Metrics[k] = math.NaN()
		case "+Inf":
			r.Metrics[k] = math.Inf(1)
		case "-Inf":
			r.Metrics[k] = math.Inf(-1)
		default:
			return fmt.Errorf("metric %q: %q is not a number", k, s)
		}
	}
	return nil
}

// MetricsWriter appends Records to a JSON-lines file. Lines are buffered;
// Sync (call it with every checkpoint) flushes and fsyncs, so that after a
// crash the file holds at least every record written before the last
// checkpoint. A partial last line left by a crash is cut off when the file
// is reopened.
type MetricsWriter struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

// OpenMetrics opens (creating if needed) a metrics file for appending.
func OpenMetrics(path string) (*MetricsWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	end, err := completeLinesEnd(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("logging: %s: %w", path, err)
	}
	return &MetricsWriter{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// completeLinesEnd returns the offset just after the file's last newline
// (0 if it has none).
func completeLinesEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// Path returns the file's path.
func (m *MetricsWriter) Path() string { return m.path }

// Write appends one record as a line.
func (m *MetricsWriter) Write(r Record) error {
	line, _ := r.MarshalJSON()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return errors.New("logging: metrics writer is closed")
	}
	if m.err != nil {
		return m.err
	}
	line = append(line, '\n')
	if _, err := m.w.Write(line); err != nil {
		m.err = fmt.Errorf("logging: %s: %w", m.path, err)
	}
	return m.err
}

// Sync flushes buffered lines and fsyncs the file.
func (m *MetricsWriter) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return errors.New("logging: metrics writer is closed")
	}
	return m.syncLocked()
}

func (m *MetricsWriter) syncLocked() error {
	if m.err != nil {
		return m.err
	}
	if err := m.w.Flush(); err != nil {
		m.err = fmt.Errorf("logging: %s: %w", m.path, err)
		return m.err
	}
	if err := m.f.Sync(); err != nil {
		m.err = fmt.Errorf("logging: %s: %w", m.path, err)
	}
	return m.err
}

// Close syncs and closes the file.
func (m *MetricsWriter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	err := m.syncLocked()
	if cerr := m.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("logging: %s: %w", m.path, cerr)
	}
	m.f = nil
	return err
}

// MaxMetricsLine bounds one line when reading a metrics file.
const MaxMetricsLine = 1 << 20

// ReadMetrics reads every complete line of a metrics file. A final line
// without its newline (a crash mid-write) is ignored; a malformed complete
// line is an error naming its line number.
func ReadMetrics(r io.Reader) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Record
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("logging: metrics line %d: %w", n, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return out, fmt.Errorf("logging: metrics line %d: %w", n, err)
		}
		out = append(out, rec)
	}
}

// readLine returns the next newline-terminated line without the newline,
// io.EOF at the end or before an unterminated tail.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxMetricsLine {
			return nil, fmt.Errorf("line longer than %d bytes", MaxMetricsLine)
		}
		switch err {
		case nil:
			return line[:len(line)-1], nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return nil, io.EOF // unterminated tail: ignored
		default:
			return nil, err
		}
	}
}
