// Package importer reads the released bottom-up-attention detector weights
// and maps them onto one canonical name set, Weights, that internal/detect
// runs. Load detects the format by content:
//
//   - the Caffe .caffemodel of peteanderson80/bottom-up-attention (a
//     NetParameter protobuf, decoded with protowire from caffe.proto's field
//     numbers; V2 `layer` and V1 `layers`, BlobProto shape or the legacy
//     num/channels/height/width, float or double data);
//   - HuggingFace unc-nlp/frcnn-vg-finetuned pytorch_model.bin with the
//     config.yaml beside it (keys of transformers'
//     examples/research_projects/lxmert/modeling_frcnn.py);
//   - MILVLG bottom-up-attention.pytorch bua-caffe-frcn-r101*.pth (keys of
//     bua/caffe/modeling, possibly under detectron2's {"model": ...});
//   - vlbert's own detector safetensors (WriteVlbert, `vlbert convert`).
//
// # Canonical names
//
// The layer names of the published Caffe test network
// (models/vg/ResNet-101/faster_rcnn_end2end_final/test.prototxt) with a
// suffix per blob; Config.Params lists them with their shapes for any
// (reduced) Config:
//   - Convolution / InnerProduct: "<layer>.weight" (conv [out, in, kh, kw],
//     fc [out, in]) and "<layer>.bias" where the layer has one (the trunk
//     convolutions have none; rpn_conv/3x3, rpn_cls_score, rpn_bbox_pred,
//     cls_score, bbox_pred, fc_attr, attr_score do).
//   - BatchNorm: "<bn>.mean", "<bn>.var": Caffe's first two blobs already
//     divided by its third (the moving-average factor; a factor of 0 gives
//     0, as Caffe's BatchNormLayer does). eps is Config.BNEps (Caffe's
//     default 1e-5, or batch_norm_param.eps when the caffemodel sets it).
//   - Scale: "<scale>.weight", "<scale>.bias".
//   - Embed: "cls_embedding.weight" [NumClasses, EmbedDim] (Caffe's Embed
//     blob layout, [input_dim, num_output]).
//
// Semantics are Caffe's: class 0 is background in cls_score, bbox_pred
// (4 un-normalised deltas per class, class-major) and cls_embedding; attribute
// 0 is "no attribute"; rpn_cls_score has 2A channels, A background scores
// then A foreground scores (py-faster-rcnn reshapes it to (2, A*H, W) before
// the softmax); rpn_bbox_pred has 4A channels, anchor-major (dx, dy, dw, dh);
// the input is BGR minus the pixel means.
//
// # What each importer maps exactly
//
// MILVLG's caffe-compatible checkpoint is already in Caffe's layout
// (converted from the caffemodel): only names change (detectron2 Conv2d +
// BatchNorm2d(eps 1e-5) -> Caffe Convolution + BatchNorm + Scale; cls_embed,
// attr_linear1, attr_linear2 -> cls_embedding, fc_attr, attr_score).
//
// The HF checkpoint is detectron2-style; these differences are folded into
// the weights exactly:
//   - one objectness logit per anchor -> a (background, foreground) pair with
//     the background channel's weights and bias 0: softmax([0, x])[1] =
//     sigmoid(x), the score detectron2 ranks by;
//   - background as the last class of cls_score and cls_embedding -> first;
//     "no attribute" as the last attr_score row (modeling_frcnn.py
//     _predict_attrs drops the last column) -> first;
//   - 4 x 1600 box outputs -> 4 x 1601 with zero background rows (a
//     class-agnostic head is copied to every class);
//   - ROI_BOX_HEAD.BBOX_REG_WEIGHTS (10, 10, 5, 5) and RPN.BBOX_REG_WEIGHTS
//     divided out of the bbox_pred / anchor_deltas rows (Box2BoxTransform
//     decodes dx = delta / wx);
//   - INPUT.FORMAT RGB: conv1's input channels reversed; PIXEL_STD folded
//     into conv1 (zero padding commutes with the scaling).
//
// # What cannot be folded: Flags
//
// The network selects these behaviours from Result.Flags (CaffeFlags() is
// the published network). To run HF or MILVLG weights with the Caffe
// network's exact semantics (as a same-weights comparison of the three
// formats does), use CaffeFlags() instead; the weights themselves are the
// same.
//   - BoxCoding: detectron2's Box2BoxTransform has no +1 in widths, decodes
//     x2 = ctr + w/2 (as Caffe, whose widths have the +1), clips to [0, W] (Caffe W-1),
//     keeps proposals with w > MIN_SIZE (Caffe w+1 >= 16 x scale) and its NMS
//     has no +1 in areas. HF only; MILVLG keeps Caffe's +1 (TO_REMOVE = 1).
//   - DeltaScaleClamp: both PyTorch releases clamp dw, dh at log(1000/16)
//     before exp; Caffe's bbox_transform_inv does not.
//   - Anchors: HF anchors are detectron2's cell anchors (exact
//     sqrt(size^2/ratio) widths centred on the cell's corner plus OFFSET x
//     stride, size-major order) rather than generate_anchors' rounded boxes
//     centred at 7.5 (ratio-major); they are given in RPN channel order, so
//     no channel permutation is needed.
//   - PixelMeans: a mean difference cannot be folded into conv1 exactly
//     (zero padding at the borders), so the means travel as a flag (BGR).
//   - StemPoolCeil: HF's MODEL.MAX_POOL false means detectron2's pad-1
//     floor-mode pool1 instead of Caffe's ceil mode.
//   - ResizePIL: the HF demo resizes with PIL bilinear on uint8
//     (processing_image.py), Caffe's test.py with cv2.resize on float BGR.
//   - Proposals: HF's RPN settings (PRE/POST_NMS_TOPK_TEST, NMS_THRESH,
//     PROPOSAL_GENERATOR.MIN_SIZE) from its config.
//
// Not flagged because they agree: HF's pooler is torchvision RoIPool 14x14
// at 1/16, the same rounding as Caffe's ROIPooling; res5 has stride 1 and
// dilation 2 in all three (an HF config with RES5HALVE true is refused);
// BatchNorm eps is 1e-5 in all three. Post-processing differences (the HF
// demo's attribute softmax without the "no attribute" column, its NMS and
// score rules) belong to the box selection rules, not to the weights.
//
// Every reader treats its file as untrusted: sizes are bounded
// (MaxCaffemodelBytes, MaxConfigBytes, MaxVocabBytes), errors name the file
// and the key or layer, malformed input never panics, and the result passes
// Config.Validate (exact key set, shapes, finite values).
//
// The package also reads the Visual Genome 1600/400 vocabularies
// (ReadObjectsVocab, ReadAttributesVocab, VocabsBeside), and writes a
// caffemodel from canonical weights (EncodeCaffemodel) so that tests build
// synthetic Caffe releases without Caffe.
package importer
