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
// (pretrain.go), RefCOCO+ on synthetic worlds (refcoco.go), VCR Q2A and
// QA2R (vcr.go, leaderboard.go).
//
// End-to-end configs (NETWORK.IMAGE_FEAT_PRECOMPUTED false: the original's
// pretraining, VCR and RefCOCO+ configs) run through the same loop: the
// datasets load and preprocess images, and the task is wrapped (e2e.go) so
// that every forward first runs the ResNet C4 backbone and the res5 RoI head
// of package visual and every backward continues from the model's feature
// gradient into the trainable CNN stages. The CNN's parameters are part of
// the model's arena under their original keys, so optimizer, clipping,
// data-parallel averaging, checkpoints, resume, Evaluate and Predict need no
// special case. e2e VQA has no original config and is refused.
//
// Files: run.go the loop (Run), trainer.go one step (Trainer.Step),
// checkpoint.go the format and resume, init.go weights at start (partial
// pretrain) and resume selection, logs.go TensorBoard/JSON/speedometer,
// eval.go Evaluate and Predict, e2e.go the image path.
//
// Determinism: every random choice is a pure function of RNG_SEED and the
// position in the run. Samples draw from data.BatchRNG(seed, epoch, batch),
// the sampler shuffles by (seed, epoch), dropout masks depend on
// (seed, global batch number, site). A checkpoint therefore only needs the
// weights, the optimizer state, the position (epoch, batch, update count),
// pending accumulated gradients and the best metric: N steps straight and
// N/2 + stop + resume + N/2 give bit-identical weights.
//
// TRAIN.ASPECT_GROUPING forms the train split's batches within aspect groups
// (data.Sampler.Groups: w ≥ h or taller, from the image sizes each task
// knows), as the original's GroupedBatchSampler; val and test are never
// grouped. The original supports it for VQA and RefCOCO+ (on in the RefCOCO+
// configs) and refuses it for VCR and pretraining, whose configs set it false;
// here it works for every task.
//
// Checkpoints are vlbert's own format: a safetensors file holding every
// parameter under its original state_dict key, the optimizer moments under
// "optimizer.<kind>.<key>", and the trainer state (JSON) and config (YAML) in
// the metadata. They are written atomically, so a file that exists is
// complete. Original PyTorch .model checkpoints are read for fine-tuning
// (NETWORK.PARTIAL_PRETRAIN) and for resuming (with their AdamW state).
package train
