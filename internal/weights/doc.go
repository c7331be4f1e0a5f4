// Package weights reads and writes model weights: original VL-BERT / PyTorch
// checkpoints (torch.save, both the legacy pre-1.6 stream and the zip format),
// BERT pytorch_model.bin files, and vlbert's own safetensors files.
//
// What it is for:
//   - ReadTorch turns a torch.save file into a TorchCheckpoint: an ordered
//     state_dict of Tensors, the repo's AdamW optimizer state and the
//     validation monitor. Every tensor is materialised contiguously (storage
//     offset and strides applied); tensors that share a storage (tied
//     weights) get independent copies.
//   - Key helpers implement the original loaders' renaming rules:
//     StripModulePrefix, CanonicalKey/Canonicalize (module., vlbert._module.,
//     the duplicated image_feature_extractor.head.0.*), ApplyPrefixChanges,
//     ImportBERT, PartialLoad and CheckKeys; TorchCheckpoint.ParamNames maps
//     optimizer indices to keys; DetectModelKind names the model.
//   - ReadSafetensors / WriteSafetensors are the native format (HF
//     safetensors layout); writes are atomic. OptimizerFromSafetensors
//     reads back the optimizer state `vlbert convert` stores there, and
//     ReadModelWeights reads weights from either format.
//
// What it is not: a general Python unpickler. Only the objects torch.save
// emits for state dicts and optimizer states are understood; anything else
// loads as an opaque value and is ignored.
//
// Tensor data layout: row-major (C order), shape as in PyTorch. Floating
// point tensors (F32, F16, BF16, F64 on disk) are held as float32 in
// Tensor.F32; integer and bool tensors (I64, I32, I16, I8, U8, BOOL) as int64
// in Tensor.I64. DType records the on-disk dtype.
//
// All readers treat files as untrusted: malformed input returns an error that
// names the file, never a panic, and no allocation is sized by a length field
// that has not been checked against the bytes actually present.
package weights
