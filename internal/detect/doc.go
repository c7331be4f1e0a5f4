// Package detect is the bottom-up-attention Faster R-CNN detector of Anderson
// et al. (peteanderson80/bottom-up-attention, the published test network
// models/vg/ResNet-101/faster_rcnn_end2end_final/test.prototxt and its Python
// layers), run forward on the CPU: a photo becomes regions, 2048-d pool5
// features, 1601 class and 401 attribute probabilities.
//
// Stages (Network.Forward, each timed in Result.StagesMs):
//
//	preprocess  BGR minus the pixel means, short side 600 / long side <= 1000,
//	            cv2.resize INTER_LINEAR (lib/fast_rcnn/test.py, _get_image_blob)
//	trunk       ResNet-101 conv1..res4 (stride 16), Caffe ceil-mode pool1, stride in
//	            the 1x1 convolutions, frozen BatchNorm+Scale folded into the weights
//	rpn         rpn_conv/3x3 (512) + ReLU, rpn_cls_score (2A) + softmax over bg/fg,
//	            rpn_bbox_pred (4A); A = 12 anchors (generate_anchors.py)
//	proposals   lib/rpn/proposal_layer.py TEST: 6000 before NMS, NMS 0.7, 300 after,
//	            minimum side 16 at the image scale
//	roipool     Caffe ROIPooling 14x14 at 1/16 (roi_pooling_layer.cpp)
//	head        res5 (stride 1, dilation 2) on the 14x14 maps, global average pool to
//	            pool5_flat [R, 2048], cls_score / cls_prob, bbox_pred, and the
//	            attribute branch (argmax class embedding concatenated after
//	            pool5_flat, fc_attr 512 + ReLU, attr_score / attr_prob)
//	select      which boxes an extraction keeps (Rule: generate_tsv, generate_tsv_v2,
//	            LXMERT's 36, the HuggingFace demo's do_nms)
//
// Weights are internal/detect/importer's canonical map (Caffe layer names);
// Load validates them and folds each BatchNorm+Scale pair into the
// convolution before it. RandomWeights is a seeded generator that
// bench/detect_torch.py implements identically, so tests and benchmarks need
// no stored full-size weights.
//
// The original's quirks are kept and named where they are implemented: the +1
// in box widths and areas, np.round's half-to-even in the anchors, C round()
// (half away from zero) in RoI pooling, float32 arithmetic where the original
// computes in float32, NMS suppressing IoU > threshold (the GPU NMS that the
// released code runs). Ties in scores, which a trained detector rarely
// produces, are broken the way numpy's argsort()[::-1] breaks them for small
// arrays (a stable ascending sort reversed: the higher index first).
//
// Layout: the trunk's activations are NCHW float32 as in internal/visual,
// whose implicit-GEMM convolution runs the trunk's strided and 3x3
// convolutions; 1x1 convolutions are one GEMM with the bias, residual and
// ReLU in its epilogue (gemm.SgemmEpilogue). The res5 head keeps its RoIs
// channel-major ([C, R, 14, 14], headconv.go) so that each convolution is one
// product over a chunk of RoIs. Work is parallel over threads
// (internal/parallel, gemm); results do not depend on the thread count.
// A Network is not safe for concurrent use (it reuses its buffers); build one
// per goroutine, sharing nothing but the read-only weights is not supported.
package detect
