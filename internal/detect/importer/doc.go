// Package importer reads the released bottom-up-attention detector weights
// and maps them onto one canonical name set, Weights, that internal/detect
// runs.
//
// Canonical names are the layer names of the published Caffe test network
// (peteanderson80/bottom-up-attention,
// models/vg/ResNet-101/faster_rcnn_end2end_final/test.prototxt) with a
// suffix per blob:
//   - Convolution / InnerProduct: "<layer>.weight" (conv [out, in, kh, kw],
//     fc [out, in]) and "<layer>.bias" where the layer has one (the trunk
//     convolutions have none; rpn_conv/3x3, rpn_cls_score, rpn_bbox_pred,
//     cls_score, bbox_pred, fc_attr, attr_score do).
//   - BatchNorm: "<bn>.mean", "<bn>.var": Caffe's first two blobs already
//     divided by its third (the moving-average scale factor; a factor of 0
//     gives 0, as Caffe's BatchNormLayer does). eps is Config.BNEps.
//   - Scale: "<scale>.weight", "<scale>.bias".
//   - Embed: "cls_embedding.weight" [NumClasses, EmbedDim] (Caffe's Embed
//     blob layout, [input_dim, num_output]).
//
// Semantics are Caffe's: class 0 is background in cls_score and bbox_pred
// (4 deltas per class, class-major); rpn_cls_score has 2A channels, A
// background scores then A foreground scores (py-faster-rcnn reshapes it to
// (2, A*H, W) before the softmax); rpn_bbox_pred has 4A channels, anchor-major
// (dx, dy, dw, dh); box deltas are un-normalised; the input is BGR minus the
// pixel means.
package importer
