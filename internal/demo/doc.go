// Package demo is `vlbert demo`: the end-to-end showcase on the synthetic
// world of internal/data/synth, run from pixels. It generates the world
// (images, detection labels, captions, corpus, VQA, referring expressions,
// VCR), trains the bottom-up-attention detector on its images
// (internal/detect/dettrain) and extracts every image's regions with it (the
// library path of `vlbert detect`; VCR's given boxes and the oracle row's
// true boxes through the same network), pre-trains a small VL-BERT
// (multitask MLM + MVRC on captions plus text-only MLM), fine-tunes VQA,
// RefCOCO+-style grounding and VCR-style Q→A from the pre-trained
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
//	data/         the generated world (kept; regenerated only when its COMPLETE marker is for another config),
//	              with the detector's feature files (rewritten every run) and oracle/ (VQA on true-box features)
//	configs/      the resolved configs (vlbert eval --cfg DIR/configs/vqa.yaml --ckpt DIR/checkpoints/vqa.safetensors)
//	runs/         the training output directories (logs, metrics.jsonl, TensorBoard events)
//	checkpoints/  pretrain, vqa, ground, vcr (and *_scratch, vqa_oracle) .safetensors, vlbert's checkpoint format;
//	              detector.safetensors with objects_vocab.txt and attributes_vocab.txt (vlbert detect --weights)
//	report.html, report.json
package demo
