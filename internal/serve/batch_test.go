package serve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/infer/infertest"
)

// With batching on, concurrent VQA requests are answered by batched forwards:
// every one gets 200 with the answer a lone request gets, the slots are
// MaxBatch per worker (twice: one batch running, one collecting), and /metrics
// shows the batch sizes and queue times.
func TestServeBatching(t *testing.T) {
	ck, err := infertest.WriteVQA(t.TempDir(), 11)
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: ck})
	if err != nil {
		t.Fatal(err)
	}
	_, sc := fixture(t)
	body := featuresBody(sc, nil)
	// The answer alone, from a server without batching over the same weights.
	_, alone := post(t, New(p, Config{}).Handler(), "/v1/vqa", body)
	s := New(p, Config{BatchWindow: 2 * time.Second, MaxBatch: 4})
	if cap(s.sem) != 8 || !p.BatchingConfig().On() {
		t.Fatalf("%d inference slots with 1 worker and MaxBatch 4 (want 8); batching %+v", cap(s.sem), p.BatchingConfig())
	}
	h := s.Handler()
	var wg sync.WaitGroup
	codes := make([]int, 4)
	outs := make([]map[string]any, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = post(t, h, "/v1/vqa", body)
		}()
	}
	wg.Wait()
	for i := range 4 {
		if codes[i] != 200 {
			t.Fatalf("request %d: %d %v", i, codes[i], outs[i])
		}
		got := outs[i]["answers"].([]any)[0].(map[string]any)
		want := alone["answers"].([]any)[0].(map[string]any)
		if got["answer"] != want["answer"] || absDiff(got["logit"].(float64), want["logit"].(float64)) > 1e-4 {
			t.Errorf("request %d: batched %v, alone %v", i, got, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := rec.Body.String()
	for _, want := range []string{"vlbert_batch_size_bucket{le=\"4\"} 1", "vlbert_batch_size_count 1", "vlbert_batch_size_sum 4", "vlbert_batch_queue_seconds_count 4"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func absDiff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}
