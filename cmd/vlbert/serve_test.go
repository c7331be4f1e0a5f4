package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func mustPNG(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The serve command answers a request on loopback and stops cleanly when its
// context ends (what SIGTERM does through main).
func TestServeCommand(t *testing.T) {
	_, ckpt, _, _, sc := inferFixture(t)
	o := serveOptions{inferFlags: inferFlags{ckpt: ckpt, maxRegions: 100, maxTokens: 64}, addr: "127.0.0.1:0", workers: 1,
		maxBody: 1 << 20, maxPixels: 1 << 20, requestTimeout: 10 * time.Second, quiet: true}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() { done <- runServe(ctx, o, &stdout, &stderr, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"question": "what color is the circle?", "features": json.RawMessage(sc.JSON), "top_k": 2})
	resp, err := http.Post("http://"+addr+"/v1/vqa", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"answers"`) {
		t.Fatalf("vqa: %d %s", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stdout.String(), "server stopped") {
		t.Errorf("stdout: %s", stdout.String())
	}
}
