// Package logging writes the training logs: TensorBoard event files, a
// JSON-lines metrics file, and the console progress report (a one-line
// progress bar on a terminal, the original Speedometer's periodic lines
// otherwise).
//
// TensorBoard files are TFRecord-framed tensorboard.Event protocol buffers,
// encoded by hand with protowire (no generated code). The scalar names follow
// the original trainer (common/trainer.py, train): TagTrainLoss, LRTag(i), InitialLRTag(i),
// TagGradNorm, TrainTag(metric), ValTag(metric).
//
// Writers are safe for concurrent use. Values from outside (event files read
// back by ReadEvents) are size-limited and checksum-verified.
package logging

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vlbert/vlbert/internal/pbwire"
)

// Scalar tags written by the original trainer.
const (
	TagTrainLoss = "Train-Loss"
	TagGradNorm  = "grad-para/Total-Norm"
)

// LRTag is the current lr of parameter group i ("LR/Group_0").
func LRTag(i int) string { return fmt.Sprintf("LR/Group_%d", i) }

// InitialLRTag is the initial lr of parameter group i.
func InitialLRTag(i int) string { return fmt.Sprintf("Initial-LR/Group_%d", i) }

// TrainTag is a training metric ("Train-MLMAccWVC").
func TrainTag(metric string) string { return "Train-" + metric }

// ValTag is a validation metric, logged per epoch at step epoch+1.
func ValTag(metric string) string { return "Val-" + metric }

// Field numbers of tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto.
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string
	eventSummary     = 5 // Summary
	summaryValue     = 1 // repeated Summary.Value
	valueTag         = 1 // string
	valueSimpleValue = 2 // float
)

// FileVersion is the first event of every file.
const FileVersion = "brain.Event:2"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked CRC-32C.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crcTable)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// appendRecord frames data as one TFRecord: length (uint64 LE), masked CRC
// of the length, data, masked CRC of data.
func appendRecord(dst, data []byte) []byte {
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(len(data)))
	dst = append(dst, hdr[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, maskedCRC(hdr[:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, maskedCRC(data))
}

// Scalar is one tag/value pair of a summary.
type Scalar struct {
	Tag   string
	Value float32
}

// Event is the subset of tensorboard.Event that vlbert writes and reads.
type Event struct {
	WallTime    float64 // seconds since the Unix epoch
	Step        int64
	FileVersion string   // set only in the first event of a file
	Scalars     []Scalar // summary values with simple_value
}

// MarshalEvent encodes e as a tensorboard.Event protobuf.
func MarshalEvent(e Event) []byte {
	var b []byte
	b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(e.WallTime))
	if e.Step != 0 {
		b = protowire.AppendTag(b, eventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Step))
	}
	if e.FileVersion != "" {
		b = protowire.AppendTag(b, eventFileVersion, protowire.BytesType)
		b = protowire.AppendString(b, e.FileVersion)
	}
	if len(e.Scalars) > 0 {
		var sum []byte
		for _, s := range e.Scalars {
			var v []byte
			v = protowire.AppendTag(v, valueTag, protowire.BytesType)
			v = protowire.AppendString(v, s.Tag)
			v = protowire.AppendTag(v, valueSimpleValue, protowire.Fixed32Type)
			v = protowire.AppendFixed32(v, math.Float32bits(s.Value))
			sum = protowire.AppendTag(sum, summaryValue, protowire.BytesType)
			sum = protowire.AppendBytes(sum, v)
		}
		b = protowire.AppendTag(b, eventSummary, protowire.BytesType)
		b = protowire.AppendBytes(b, sum)
	}
	return b
}

// EventWriter appends scalar events to one TensorBoard event file.
type EventWriter struct {
	// FlushEvery bounds how long written events may stay buffered; they
	// are flushed by the first Add after it elapses, and by Flush/Close.
	FlushEvery time.Duration

	mu        sync.Mutex
	path      string
	f         *os.File
	w         *bufio.Writer
	lastFlush time.Time
	now       func() time.Time
	err       error
}

// NewEventWriter creates dir if needed and opens a new event file
// events.out.tfevents.<unix seconds>.<hostname> in it, starting with the
// file_version event.
func NewEventWriter(dir string) (*EventWriter, error) {
	return newEventWriter(dir, time.Now)
}

func newEventWriter(dir string, now func() time.Time) (*EventWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	t := now()
	path := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s", t.Unix(), host))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	w := &EventWriter{FlushEvery: 10 * time.Second, path: path, f: f, w: bufio.NewWriter(f), lastFlush: t, now: now}
	if err := w.write(Event{WallTime: wallTime(t), FileVersion: FileVersion}); err != nil {
		f.Close()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Path returns the event file's path.
func (w *EventWriter) Path() string { return w.path }

func (w *EventWriter) write(e Event) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(appendRecord(nil, MarshalEvent(e))); err != nil {
		w.err = fmt.Errorf("logging: %s: %w", w.path, err)
	}
	return w.err
}

// AddScalar writes one scalar at step, stamped with the current time.
func (w *EventWriter) AddScalar(tag string, value float64, step int64) error {
	return w.AddScalars(step, Scalar{Tag: tag, Value: float32(value)})
}

// AddScalars writes scalars at step as one event per scalar (as
// tensorboardX's add_scalar does).
func (w *EventWriter) AddScalars(step int64, scalars ...Scalar) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("logging: event writer is closed")
	}
	t := w.now()
	for _, s := range scalars {
		if err := w.write(Event{WallTime: wallTime(t), Step: step, Scalars: []Scalar{s}}); err != nil {
			return err
		}
	}
	if w.FlushEvery >= 0 && t.Sub(w.lastFlush) >= w.FlushEvery {
		return w.flushLocked(false)
	}
	return nil
}

// Flush writes buffered events to the file and syncs it to disk.
func (w *EventWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("logging: event writer is closed")
	}
	return w.flushLocked(true)
}

func (w *EventWriter) flushLocked(sync bool) error {
	if w.err != nil {
		return w.err
	}
	w.lastFlush = w.now()
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("logging: %s: %w", w.path, err)
		return w.err
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("logging: %s: %w", w.path, err)
		}
	}
	return w.err
}

// Close flushes, syncs and closes the file.
func (w *EventWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushLocked(true)
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("logging: %s: %w", w.path, cerr)
	}
	w.f = nil
	return err
}

// MaxRecordSize bounds one record when reading event files.
const MaxRecordSize = 16 << 20

// ReadEvents reads every record of an event file, verifying both CRCs, and
// decodes the events (unknown fields are skipped). A truncated final record
// (a writer killed mid-write) is an error wrapping io.ErrUnexpectedEOF; the
// events before it are returned with it.
func ReadEvents(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var out []Event
	for n := 0; ; n++ {
		data, err := readRecord(br)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("logging: record %d: %w", n, err)
		}
		e, err := UnmarshalEvent(data)
		if err != nil {
			return out, fmt.Errorf("logging: record %d: %w", n, err)
		}
		out = append(out, e)
	}
}

// readRecord returns the payload of the next TFRecord, or io.EOF at a clean
// end of input.
func readRecord(r io.Reader) ([]byte, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	if maskedCRC(hdr[:8]) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, errors.New("length checksum mismatch")
	}
	n := binary.LittleEndian.Uint64(hdr[:8])
	if n > MaxRecordSize {
		return nil, fmt.Errorf("record of %d bytes exceeds the %d limit", n, MaxRecordSize)
	}
	buf := make([]byte, n+4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	data := buf[:n]
	if maskedCRC(data) != binary.LittleEndian.Uint32(buf[n:]) {
		return nil, errors.New("data checksum mismatch")
	}
	return data, nil
}

// UnmarshalEvent decodes the fields of Event from a tensorboard.Event
// protobuf; other fields are skipped.
func UnmarshalEvent(b []byte) (Event, error) {
	var e Event
	err := pbwire.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == eventWallTime && typ == protowire.Fixed64Type:
			e.WallTime = math.Float64frombits(x)
		case num == eventStep && typ == protowire.VarintType:
			e.Step = int64(x)
		case num == eventFileVersion && typ == protowire.BytesType:
			e.FileVersion = string(v)
		case num == eventSummary && typ == protowire.BytesType:
			return pbwire.Walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != summaryValue || typ != protowire.BytesType {
					return nil
				}
				var s Scalar
				has := false
				err := pbwire.Walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					switch {
					case num == valueTag && typ == protowire.BytesType:
						s.Tag = string(v)
					case num == valueSimpleValue && typ == protowire.Fixed32Type:
						s.Value = math.Float32frombits(uint32(x))
						has = true
					}
					return nil
				})
				if has {
					e.Scalars = append(e.Scalars, s)
				}
				return err
			})
		}
		return nil
	})
	return e, err
}
