#!/usr/bin/python3
"""Writes tiny REDUCED-WIDTH detector weight files in the layouts of the two
PyTorch releases, all from one canonical weight map:

  canonical.pth               canonical names (Caffe layer + blob suffix) -> tensors
  hf/pytorch_model.bin        unc-nlp/frcnn-vg-finetuned layout (modeling_frcnn.py keys),
  hf/config.yaml              with INPUT.FORMAT RGB, PIXEL_STD and BBOX_REG_WEIGHTS that
                              the importer must fold back exactly
  milvlg/bua-caffe-frcn-r101-tiny.pth   MILVLG bua/caffe layout under {"model": ...},
                              saved in the legacy (pre-1.6) torch.save format

Every value is a small integer times 2**-10, so the folds (x10, x5, x2, x4 and
their inverses) are exact in float32 and the Go test can demand bit equality.
The Caffe .caffemodel is built by the Go tests themselves (importer.EncodeCaffemodel).

Run: /usr/bin/python3 gen_releases.py   (torch 1.13, numpy)
"""
import collections
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(19)

# Tiny network: the same names as the published ResNet-101 test network.
STEM = 4
BLOCKS = [1, 1, 2, 1]
BOTTLENECK = [2, 3, 4, 5]
EXPANSION = 2
RPN_WIDTH = 6
A = 12  # anchors
CLASSES = 5  # with background
ATTRS = 4  # with "no attribute"
EMBED = 3
ATTR_HIDDEN = 7

# DETECT_GEN_FULL=DIR writes the published full-size network (64M
# parameters, about 256 MB per file) to DIR instead, for timing the
# importers; those files are never committed.
if os.environ.get("DETECT_GEN_FULL"):
    HERE = os.environ["DETECT_GEN_FULL"]
    STEM, BLOCKS, BOTTLENECK, EXPANSION = 64, [3, 4, 23, 3], [64, 128, 256, 512], 4
    RPN_WIDTH, CLASSES, ATTRS, EMBED, ATTR_HIDDEN = 512, 1601, 401, 256, 512


def vals(*shape, positive=False):
    v = rng.randint(-512, 513, size=shape).astype(np.float32) / 1024
    if positive:
        v = np.abs(v) + 1.0 / 1024
    return v


def block_name(stage, i):
    n = stage + 2
    if i == 0:
        return "res%da" % n
    if n in (3, 4):
        return "res%db%d" % (n, i)
    return "res%d%s" % (n, chr(ord("a") + i))


def convs():
    """(caffe conv name, in, out, k, detectron2 prefix) in network order."""
    out = [("conv1", 3, STEM, 7, "backbone.stem.conv1")]
    cin = STEM
    for s in range(4):
        mid, cout = BOTTLENECK[s], EXPANSION * BOTTLENECK[s]
        prefix = "roi_heads.res5." if s == 3 else "backbone.res%d." % (s + 2)
        for i in range(BLOCKS[s]):
            name = block_name(s, i)
            bin_ = cin if i == 0 else cout
            if i == 0:
                out.append((name + "_branch1", cin, cout, 1, "%s%d.shortcut" % (prefix, i)))
            out.append((name + "_branch2a", bin_, mid, 1, "%s%d.conv1" % (prefix, i)))
            out.append((name + "_branch2b", mid, mid, 3, "%s%d.conv2" % (prefix, i)))
            out.append((name + "_branch2c", mid, cout, 1, "%s%d.conv3" % (prefix, i)))
        cin = cout
    return out


def bn_names(conv):
    if conv == "conv1":
        return "bn_conv1", "scale_conv1"
    suffix = conv[len("res"):]
    return "bn" + suffix, "scale" + suffix


canon = collections.OrderedDict()
for name, cin, cout, k, _ in convs():
    bn, sc = bn_names(name)
    canon[name + ".weight"] = vals(cout, cin, k, k)
    canon[bn + ".mean"] = vals(cout)
    canon[bn + ".var"] = vals(cout, positive=True)
    canon[sc + ".weight"] = vals(cout)
    canon[sc + ".bias"] = vals(cout)
res4 = EXPANSION * BOTTLENECK[2]
feat = EXPANSION * BOTTLENECK[3]
canon["rpn_conv/3x3.weight"] = vals(RPN_WIDTH, res4, 3, 3)
canon["rpn_conv/3x3.bias"] = vals(RPN_WIDTH)
# The HF layout has one objectness logit per anchor: background channels 0.
canon["rpn_cls_score.weight"] = np.concatenate([np.zeros((A, RPN_WIDTH, 1, 1), np.float32), vals(A, RPN_WIDTH, 1, 1)])
canon["rpn_cls_score.bias"] = np.concatenate([np.zeros(A, np.float32), vals(A)])
canon["rpn_bbox_pred.weight"] = vals(4 * A, RPN_WIDTH, 1, 1)
canon["rpn_bbox_pred.bias"] = vals(4 * A)
canon["cls_score.weight"] = vals(CLASSES, feat)
canon["cls_score.bias"] = vals(CLASSES)
# ... and no background box rows.
bw, bb = vals(4 * CLASSES, feat), vals(4 * CLASSES)
bw[:4], bb[:4] = 0, 0
canon["bbox_pred.weight"], canon["bbox_pred.bias"] = bw, bb
canon["cls_embedding.weight"] = vals(CLASSES, EMBED)
canon["fc_attr.weight"] = vals(ATTR_HIDDEN, feat + EMBED)
canon["fc_attr.bias"] = vals(ATTR_HIDDEN)
canon["attr_score.weight"] = vals(ATTRS, ATTR_HIDDEN)
canon["attr_score.bias"] = vals(ATTRS)

T = lambda a: torch.from_numpy(np.ascontiguousarray(a))
torch.save(collections.OrderedDict((k, T(v)) for k, v in canon.items()), os.path.join(HERE, "canonical.pth"))


def d2_trunk(sd, frozen_stem):
    for name, _, _, _, prefix in convs():
        bn, sc = bn_names(name)
        sd[prefix + ".weight"] = canon[name + ".weight"]
        sd[prefix + ".norm.weight"] = canon[sc + ".weight"]
        sd[prefix + ".norm.bias"] = canon[sc + ".bias"]
        sd[prefix + ".norm.running_mean"] = canon[bn + ".mean"]
        sd[prefix + ".norm.running_var"] = canon[bn + ".var"]
        if not (frozen_stem and prefix.startswith("backbone.stem")):
            sd[prefix + ".norm.num_batches_tracked"] = np.array(0, dtype=np.int64)


def bg_last(a):  # Caffe's class 0 first -> detectron2's background last
    return np.concatenate([a[1:], a[:1]])


# --- HF unc-nlp/frcnn-vg-finetuned -----------------------------------------
STD_RGB = np.array([1.0, 2.0, 4.0], np.float32)
REG = np.array([10.0, 10.0, 5.0, 5.0], np.float32)
hf = collections.OrderedDict()
d2_trunk(hf, frozen_stem=False)
# canonical conv1 reads BGR - mean; HF reads (RGB - mean) / std:
# w_hf[:, c] = w_can[:, 2 - c] * std_rgb[c]
w = canon["conv1.weight"]
hf["backbone.stem.conv1.weight"] = np.stack([w[:, 2 - c] * STD_RGB[c] for c in range(3)], axis=1)
hf["proposal_generator.rpn_head.conv.weight"] = canon["rpn_conv/3x3.weight"]
hf["proposal_generator.rpn_head.conv.bias"] = canon["rpn_conv/3x3.bias"]
hf["proposal_generator.rpn_head.objectness_logits.weight"] = canon["rpn_cls_score.weight"][A:]
hf["proposal_generator.rpn_head.objectness_logits.bias"] = canon["rpn_cls_score.bias"][A:]
hf["proposal_generator.rpn_head.anchor_deltas.weight"] = canon["rpn_bbox_pred.weight"]
hf["proposal_generator.rpn_head.anchor_deltas.bias"] = canon["rpn_bbox_pred.bias"]
anchors = []
for size in (64, 128, 256, 512):
    for ratio in (0.5, 1.0, 2.0):
        ww = (size * size / ratio) ** 0.5
        hh = ratio * ww
        anchors.append([-ww / 2, -hh / 2, ww / 2, hh / 2])
hf["proposal_generator.anchor_generator.cell_anchors.0"] = np.array(anchors, np.float32)
hf["roi_heads.box_predictor.cls_score.weight"] = bg_last(canon["cls_score.weight"])
hf["roi_heads.box_predictor.cls_score.bias"] = bg_last(canon["cls_score.bias"])
reg_rows = np.tile(REG, CLASSES - 1)
hf["roi_heads.box_predictor.bbox_pred.weight"] = canon["bbox_pred.weight"][4:] * reg_rows[:, None]
hf["roi_heads.box_predictor.bbox_pred.bias"] = canon["bbox_pred.bias"][4:] * reg_rows
hf["roi_heads.box_predictor.cls_embedding.weight"] = bg_last(canon["cls_embedding.weight"])
hf["roi_heads.box_predictor.fc_attr.weight"] = canon["fc_attr.weight"]
hf["roi_heads.box_predictor.fc_attr.bias"] = canon["fc_attr.bias"]
hf["roi_heads.box_predictor.attr_score.weight"] = bg_last(canon["attr_score.weight"])
hf["roi_heads.box_predictor.attr_score.bias"] = bg_last(canon["attr_score.bias"])
os.makedirs(os.path.join(HERE, "hf"), exist_ok=True)
torch.save(collections.OrderedDict((k, T(v)) for k, v in hf.items()), os.path.join(HERE, "hf", "pytorch_model.bin"))
with open(os.path.join(HERE, "hf", "config.yaml"), "w") as f:
    f.write("""MODEL:
  DEVICE: cpu
  PIXEL_MEAN: [122.7717, 115.9465, 102.9801]
  PIXEL_STD: [1.0, 2.0, 4.0]
  MAX_POOL: true
INPUT:
  FORMAT: RGB
  MIN_SIZE_TEST: 600
  MAX_SIZE_TEST: 1000
ANCHOR_GENERATOR:
  SIZES: [[64, 128, 256, 512]]
  ASPECT_RATIOS: [[0.5, 1.0, 2.0]]
  OFFSET: 0.0
RPN:
  BBOX_REG_WEIGHTS: [1.0, 1.0, 1.0, 1.0]
  PRE_NMS_TOPK_TEST: 6000
  POST_NMS_TOPK_TEST: 300
  NMS_THRESH: 0.7
PROPOSAL_GENERATOR:
  MIN_SIZE: 0
  HIDDEN_CHANNELS: 512
ROI_BOX_HEAD:
  BBOX_REG_WEIGHTS: [10.0, 10.0, 5.0, 5.0]
  RES5HALVE: false
  CLS_AGNOSTIC_BBOX_REG: false
""")

# --- MILVLG bua-caffe-frcn-r101 ---------------------------------------------
mv = collections.OrderedDict()
d2_trunk(mv, frozen_stem=True)
for d2, caffe in [("proposal_generator.rpn_head.conv", "rpn_conv/3x3"),
                  ("proposal_generator.rpn_head.objectness_logits", "rpn_cls_score"),
                  ("proposal_generator.rpn_head.anchor_deltas", "rpn_bbox_pred"),
                  ("roi_heads.box_predictor.cls_score", "cls_score"),
                  ("roi_heads.box_predictor.bbox_pred", "bbox_pred"),
                  ("roi_heads.box_predictor.attr_linear1", "fc_attr"),
                  ("roi_heads.box_predictor.attr_linear2", "attr_score")]:
    mv[d2 + ".weight"] = canon[caffe + ".weight"]
    mv[d2 + ".bias"] = canon[caffe + ".bias"]
mv["roi_heads.box_predictor.cls_embed.weight"] = canon["cls_embedding.weight"]
os.makedirs(os.path.join(HERE, "milvlg"), exist_ok=True)
torch.save({"model": collections.OrderedDict((k, T(v)) for k, v in mv.items()), "iteration": 0},
           os.path.join(HERE, "milvlg", "bua-caffe-frcn-r101-tiny.pth"), _use_new_zipfile_serialization=False)
print("wrote", len(canon), "canonical tensors,", len(hf), "HF keys,", len(mv), "MILVLG keys")
