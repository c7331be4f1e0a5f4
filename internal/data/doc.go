// Package data turns VL-BERT examples into training batches: the example and batch
// types shared by every task, pretraining masking (whole-word MLM, MVRC), the box
// geometry transforms (resize, flip, clamp), collation with the original padding
// values, the distributed sampler and an in-order prefetching loader.
//
// The on-disk formats live in subpackages, one per format: features (bottom-up
// JSON/TSV), zipfs (`archive.zip@/inner` paths), cc (Conceptual Captions),
// corpus (text-only .doc files) and vqa (VQA v2). They return the example types
// defined here; this package imports none of them.
//
// Layout: every array is a flat row-major slice with its sizes in named fields.
// Boxes rows are [x1, y1, x2, y2, feature...] (4+D floats; D = 0 in end-to-end
// mode, 2048 in precomputed mode) and row 0 is the whole image. Collation pads
// boxes with -2, text with 0, MLM labels with -1, MVRC ops with 0 and MVRC labels
// with zero rows, exactly as the original BatchCollator (pretrain/data/collate_batch.py, BatchCollator).
//
// Randomness: every random decision (flip, masking, random tokens) draws from a
// *rand.Rand passed in by the caller, so a sample is a pure function of the data
// and the RNG state. The draw order follows the original code (flip, relationship,
// words, regions), though the values cannot match Python's Mersenne Twister.
//
// Known bugs of the original are reproduced by default; each has an
// opt-in fix in an options struct, documented where it is defined.
package data
