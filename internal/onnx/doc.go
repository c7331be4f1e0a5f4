// Package onnx exports vlbert's task models as ONNX graphs, so that ONNX Runtime
// (and the accelerator runtimes that read ONNX: CUDA, TensorRT, OpenVINO, DirectML,
// CoreML) can run them.
//
// Build turns a Spec (NETWORK.VLBERT's sizes and the task, see SpecFromConfig) and
// the checkpoint's tensors (Weights, keyed by the original state_dict names) into a
// Model; Write saves it, moving the weights to MODEL.onnx.data past InlineLimit.
// The graph is the original module's inference_forward (vqa/modules/
// resnet_vlbert_for_vqa.py, refcoco/modules/resnet_vlbert_for_refcoco.py,
// vcr/modules/resnet_vlbert_for_vcr.py, with common/fast_rcnn.py and
// common/visual_linguistic_bert.py) on precomputed region features, or, for e2e
// configs (Spec.E2E), on images with the ResNet-101 C4 backbone, the legacy
// RoIAlign (ONNX RoiAlign, output_half_pixel) and the res5 head inside: it takes the module's
// own inputs and derives the rest inside the graph, with dynamic batch, text length
// and region count. The parts whose size depends on the data (the text layout, the
// trimming of boxes and VL-BERT's compaction of [text | objects | END]) are written
// with TopK over "valid first, then by position" keys and GatherND/GatherElements, so
// that padding anywhere in the inputs gives what the original gives.
//
// Contracts: ONNX IR version 8, opset 17 of the default domain only (what Debian's
// onnx 1.12 checks; LayerNormalization needs 17), no custom operators; every
// checkpoint tensor the graph reads must have the shape the Spec implies (an error
// names the key). The protobuf messages are written with protowire from the field
// numbers of onnx.proto; Unmarshal reads back the subset written here, with errors
// naming the message and field.
//
// What it is not: a general ONNX library, the image preprocessing (decode, resize,
// normalise: the graph takes the original's image tensor), or the pre-training
// heads.
package onnx
