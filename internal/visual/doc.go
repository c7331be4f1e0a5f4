// Package visual is vlbert's end-to-end visual feature path: the Caffe-style
// ResNet-101 C4 backbone, the legacy (maskrcnn-benchmark, aligned=False) RoIAlign,
// the dilated res5 RoI head with its 14x14 average pool, and the image
// preprocessing of the original (decode, resize, flip, BGR x255 minus the Caffe
// means, padding, pixel masking of masked regions).
//
// It is not the geometry embedding or obj_downsample (those belong to the model),
// and it does not read bottom-up-attention precomputed features.
//
// Layout: every activation is NCHW, row-major, float32. Shape letters used in doc
// comments: N images (or regions, for the head), C input channels, K output
// channels, H and W input height and width, OH and OW output height and width,
// KH and KW kernel size, R regions of interest. Convolution weights use PyTorch's
// [K, C, KH, KW] layout.
//
// Gradient contract (as in internal/kernels): parameter gradients ACCUMULATE (+=),
// activation gradients (dinp, dfeat) are OVERWRITTEN, and a nil gradient
// destination is skipped. Kernels never modify their inputs. Shape mismatches are
// programmer errors and panic with a "visual:" message before any work; data from
// outside (image files) returns errors.
//
// Entry points: NewNetwork(ResNet101C4()) builds the network (parameters named
// by their original state_dict keys, loaded with LoadStateDict); Network.Forward
// / Backward run it; SetInference(true) shares activation buffers for
// forward-only use. DecodeImage, Preprocess (or DecodeAndPreprocess), MaskPixels,
// PadBatch and RoIs prepare its inputs exactly as the original's transforms and
// datasets do (PIL-exact bilinear resize; JPEG colour as libjpeg-turbo).
//
// ParamSet.Bind moves the parameters into storage owned elsewhere: the e2e
// trainer (internal/train) keeps them in the model's flat arena under
// image_feature_extractor.*, so one optimizer and one checkpoint cover both.
//
// Convolutions (convfused.go): the forward is one GEMM per image, or one for a batch
// of small images (the RoI head's 14x14 maps, [K, N·OH·OW] then reordered), whose B
// panels are packed straight from the image (implicit GEMM: no im2col matrix; a
// pointwise convolution of one image reads the image itself), with the frozen
// BatchNorm (per-channel scale and shift), the residual add and the ReLU applied in
// the GEMM's epilogue (gemm.Epilogue) while each block of the output is in cache.
// The BN scale is applied to the output rows rather than folded into a copy of the
// weights: the same arithmetic, no second copy of the weights to keep in step with
// training. The backward (convbackward.go) batches the head's small images into one
// product per group; the backbone's is im2col + GEMM per image. QuantizeInt8
// (int8.go) folds the BN into per-channel int8 weights for an opt-in int8 inference.
//
// Training-mode BatchNorm (bntrain.go, Config.TrainBN = IMAGE_FROZEN_BN false) is a
// separate, slower path: the convolution runs with an identity epilogue, its output
// is kept, and TrainBN normalises with the batch statistics over (N, H, W) — the
// RoI head's batch is its R RoI maps, as in PyTorch — and moves the running
// statistics (momentum 0.1, unbiased variance). Inference mode (eval) always takes
// the fused frozen path with the running statistics.
//
// Parallelism: kernels split work over channels or regions with internal/parallel;
// each output element is written by exactly one worker in a fixed order, so results
// do not depend on the thread count. The GEMMs are parallel inside.
package visual
