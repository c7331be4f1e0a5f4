// Package train is VL-BERT's training system: the loop of the original
// common/trainer.py (forward, loss / accumulation, backward, schedule step,
// global-norm clip, optimizer step, metrics, TensorBoard and speedometer
// logs), validation every epoch with the original metrics, checkpoints in the
// original output-directory layout, and resume that loses nothing.
//
// Entry points: Run trains (pretraining or a fine-tuning task, chosen by the
// config's MODULE); Evaluate computes the validation metrics of a checkpoint;
// Predict writes the leaderboard files of a split.
//
// Tasks plug in through the Task interface (task.go): a task builds its
// datasets from the config, loads collated batches for sampler positions,
// runs the model's forward/backward on a batch and accumulates its metrics.
// Implemented: VQA (vqa.go), pretraining single-task and multitask
// (pretrain.go), RefCOCO+ on precomputed features of synthetic worlds
// (refcoco.go). VCR, and RefCOCO+ through the e2e ResNet, need the image
// path wired into a task; the VCR leaderboard writer exists (leaderboard.go).
//
// Files: run.go the loop (Run), trainer.go one step (Trainer.Step),
// checkpoint.go the format and resume, init.go weights at start (partial
// pretrain) and resume selection, logs.go TensorBoard/JSON/speedometer,
// eval.go Evaluate and Predict.
//
// Determinism: every random choice is a pure function of RNG_SEED and the
// position in the run. Samples draw from data.BatchRNG(seed, epoch, batch),
// the sampler shuffles by (seed, epoch), dropout masks depend on
// (seed, global batch number, site). A checkpoint therefore only needs the
// weights, the optimizer state, the position (epoch, batch, update count),
// pending accumulated gradients and the best metric: N steps straight and
// N/2 + stop + resume + N/2 give bit-identical weights.
//
// Checkpoints are vlbert's own format: a safetensors file holding every
// parameter under its original state_dict key, the optimizer moments under
// "optimizer.<kind>.<key>", and the trainer state (JSON) and config (YAML) in
// the metadata. They are written atomically, so a file that exists is
// complete. Original PyTorch .model checkpoints are read for fine-tuning
// (NETWORK.PARTIAL_PRETRAIN) and for resuming (with their AdamW state).
package train
