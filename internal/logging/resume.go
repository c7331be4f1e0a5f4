package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vlbert/vlbert/internal/pbwire"

	"github.com/vlbert/vlbert/internal/atomicfile"
)

// Continuing logs after a resume: the steps logged after the checkpoint by
// the interrupted run are logged again by the resumed one, so they are
// removed first (metrics.jsonl) or marked for removal (TensorBoard).

// tensorboard.Event.session_log and SessionLog.status (START = 1), from
// tensorflow/core/util/event.proto.
const (
	eventSessionLog  = 6
	sessionLogStatus = 1
	sessionLogStart  = 1
)

// AddSessionStart writes a SessionLog START event at step: TensorBoard then
// discards the events of earlier files of the run at steps >= step, which
// is what PyTorch's SummaryWriter(purge_step=step) writes on a resume.
func (w *EventWriter) AddSessionStart(step int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("logging: %s is closed", w.path)
	}
	if w.err != nil {
		return w.err
	}
	var b []byte
	b = protowire.AppendTag(b, eventWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wallTime(w.now())))
	b = protowire.AppendTag(b, eventStep, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(step))
	var sl []byte
	sl = protowire.AppendTag(sl, sessionLogStatus, protowire.VarintType)
	sl = protowire.AppendVarint(sl, sessionLogStart)
	b = protowire.AppendTag(b, eventSessionLog, protowire.BytesType)
	b = protowire.AppendBytes(b, sl)
	if _, err := w.w.Write(appendRecord(nil, b)); err != nil {
		w.err = fmt.Errorf("logging: %s: %w", w.path, err)
		return w.err
	}
	return w.flushLocked(false)
}

// SessionStartStep returns the step of a SessionLog START event, if ev (one
// record of an event file) is one.
func SessionStartStep(ev []byte) (step int64, ok bool) {
	start := false
	err := pbwire.Walk(ev, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == eventStep && typ == protowire.VarintType:
			step = int64(x)
		case num == eventSessionLog && typ == protowire.BytesType:
			return pbwire.Walk(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				if num == sessionLogStatus && typ == protowire.VarintType && x == sessionLogStart {
					start = true
				}
				return nil
			})
		}
		return nil
	})
	return step, err == nil && start
}

// ReadRecords returns the raw event records of an event file.
func ReadRecords(r io.Reader) ([][]byte, error) {
	var out [][]byte
	for {
		b, err := readRecord(r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

// TruncateMetrics rewrites the metrics file at path (atomically) keeping the
// records keep accepts, in order, and returns how many it dropped. A missing
// file is nothing to do; a partial last line (a crash) is dropped.
func TruncateMetrics(path string, keep func(Record) bool) (dropped int, err error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("logging: %w", err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	recs, err := ReadMetrics(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("logging: %s: %w", path, err)
	}
	var kept []Record
	for _, r := range recs {
		if keep(r) {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(recs) {
		return 0, nil
	}
	err = atomicfile.WriteFile(path, func(w io.Writer) error {
		for _, r := range kept {
			line, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("logging: %w", err)
	}
	return len(recs) - len(kept), nil
}
