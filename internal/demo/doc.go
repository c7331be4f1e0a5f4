// Package demo is `vlbert demo`: the end-to-end showcase on the synthetic
// world of internal/data/synth. It generates the world (images, region
// features, captions, corpus, VQA, referring expressions), pre-trains a small
// VL-BERT (multitask MLM + MVRC on captions plus text-only MLM), fine-tunes
// VQA, RefCOCO+-style grounding and VCR-style Q→A from the pre-trained
// weights and from scratch (same steps and learning rate; the quick plan
// trains only VQA from scratch), evaluates on the held-out val scenes, and
// writes a self-contained report.html and report.json.
//
// Everything goes through the product's own paths: internal/train runs every
// training phase from configs in the original schema (embedded here, written
// resolved to DIR/configs/), internal/infer answers the sample questions from
// the saved checkpoints, internal/report draws the attention heatmaps.
//
// Layout of the output directory DIR:
//
//	data/         the generated world (kept; regenerated only when its COMPLETE marker is for another config)
//	configs/      the resolved configs (vlbert eval --cfg DIR/configs/vqa.yaml --ckpt DIR/checkpoints/vqa.safetensors)
//	runs/         the training output directories (logs, metrics.jsonl, TensorBoard events)
//	checkpoints/  pretrain, vqa, ground, vcr (and *_scratch) .safetensors, vlbert's checkpoint format
//	report.html, report.json
package demo
