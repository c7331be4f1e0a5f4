#!/usr/bin/python3
"""PyTorch reference of the bottom-up-attention Faster R-CNN test network.

Written from the published facts of peteanderson80/bottom-up-attention
(models/vg/ResNet-101/faster_rcnn_end2end_final/test.prototxt, lib/rpn/
proposal_layer.py, generate_anchors.py, lib/fast_rcnn/bbox_transform.py,
config.py TEST values, test.py, lib/nms, tools/generate_tsv.py), not from its
code. vlbert's internal/detect is checked against it (internal/detect/testdata/
gen_golden.py) and benchmarked against it (`vlbert bench detect` side by side).

Weights come from the seeded generator that internal/detect/random.go
implements identically (SplitMix64 per tensor, seeded with seed ^ FNV-1a(name)).

Usage:
  detect_torch.py bench [--threads N] [--rounds K] [--json]   full network, one 600x1000 image
  detect_torch.py run IMAGE --out OUT.npz [--seed S] [--reduced]   detections of one photo
Run with /usr/bin/python3 (Debian's torch 1.13, torchvision 0.14).
"""
import argparse
import json
import math
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- config

def default_config():
    return dict(num_classes=1601, num_attributes=401, anchor_scales=[4, 8, 16, 32],
                anchor_ratios=[0.5, 1, 2], anchor_base=16, feat_stride=16, pooled=14,
                stem=64, blocks=[3, 4, 23, 3], bottleneck=[64, 128, 256, 512], expansion=4,
                rpn_width=512, embed=256, attr_hidden=512, bn_eps=1e-5)


def reduced_config():
    """The reduced-width network of the goldens (internal/detect/golden_test.go, reducedConfig)."""
    c = default_config()
    c.update(num_classes=31, num_attributes=11, stem=8, blocks=[1, 2, 2, 2],
             bottleneck=[4, 8, 16, 16], rpn_width=16, embed=8, attr_hidden=16)
    return c


def block_name(stage, i):
    n = stage + 2
    if i == 0:
        return "res%da" % n
    if n in (3, 4):
        return "res%db%d" % (n, i)
    return "res%d%s" % (n, chr(ord('a') + i))


def conv_spec(layer, cin, cout, k, stride, pad, dil):
    suffix = layer[3:]
    return dict(name=layer, bn="bn" + suffix, scale="scale" + suffix, cin=cin, cout=cout,
                k=k, stride=stride, pad=pad, dil=dil)


def stage_specs(c, stage):
    """Blocks of res(2+stage): the stride sits in the 1x1 convolutions (res3a, res4a);
    res5 has stride 1 and a dilation-2 3x3 (test.prototxt)."""
    cin = c['stem'] if stage == 0 else c['expansion'] * c['bottleneck'][stage - 1]
    stride = 2 if stage in (1, 2) else 1
    dil = 2 if stage == 3 else 1
    mid, out = c['bottleneck'][stage], c['expansion'] * c['bottleneck'][stage]
    blocks = []
    for i in range(c['blocks'][stage]):
        name = block_name(stage, i)
        s, bin_ = (stride, cin) if i == 0 else (1, out)
        b = dict(name=name, branch1=conv_spec(name + "_branch1", cin, out, 1, stride, 0, 1) if i == 0 else None,
                 branch2=[conv_spec(name + "_branch2a", bin_, mid, 1, s, 0, 1),
                          conv_spec(name + "_branch2b", mid, mid, 3, 1, dil, dil),
                          conv_spec(name + "_branch2c", mid, out, 1, 1, 0, 1)])
        blocks.append(b)
    return blocks


def stem_spec(c):
    return dict(name="conv1", bn="bn_conv1", scale="scale_conv1", cin=3, cout=c['stem'], k=7,
                stride=2, pad=3, dil=1)


def params(c):
    ps = []

    def conv(s):
        ps.extend([(s['name'] + ".weight", [s['cout'], s['cin'], s['k'], s['k']]),
                   (s['bn'] + ".mean", [s['cout']]), (s['bn'] + ".var", [s['cout']]),
                   (s['scale'] + ".weight", [s['cout']]), (s['scale'] + ".bias", [s['cout']])])

    def biased(name, *shape):
        ps.extend([(name + ".weight", list(shape)), (name + ".bias", [shape[0]])])

    conv(stem_spec(c))
    A = len(c['anchor_scales']) * len(c['anchor_ratios'])
    c4 = c['expansion'] * c['bottleneck'][2]
    for stage in range(4):
        if stage == 3:
            biased("rpn_conv/3x3", c['rpn_width'], c4, 3, 3)
            biased("rpn_cls_score", 2 * A, c['rpn_width'], 1, 1)
            biased("rpn_bbox_pred", 4 * A, c['rpn_width'], 1, 1)
        for b in stage_specs(c, stage):
            if b['branch1']:
                conv(b['branch1'])
            for s in b['branch2']:
                conv(s)
    feat = c['expansion'] * c['bottleneck'][3]
    biased("cls_score", c['num_classes'], feat)
    biased("bbox_pred", 4 * c['num_classes'], feat)
    ps.append(("cls_embedding.weight", [c['num_classes'], c['embed']]))
    biased("fc_attr", c['attr_hidden'], feat + c['embed'])
    biased("attr_score", c['num_attributes'], c['attr_hidden'])
    return ps

# ---------------------------------------------------------------- seeded weights

MASK = (1 << 64) - 1


def fnv1a64(s):
    h = 14695981039346656037
    for ch in s.encode():
        h ^= ch
        h = (h * 1099511628211) & MASK
    return h


def splitmix_uniform(seed, n):
    """n draws of SplitMix64 from state seed, as 24-bit uniforms in [-1, 1) (float32)."""
    with np.errstate(over='ignore'):
        k = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 23)) - np.float32(1)


def random_spec(name, shape):
    """(offset, scale) of each tensor; the same table as internal/detect/random.go."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    he = np.float32(math.sqrt(6 / max(fan_in, 1)))
    f = np.float32
    if name == "conv1.weight":
        return f(0), he / f(128)  # the input is pixels minus means (about ±100)
    if name.endswith(".mean"):
        return f(0), f(0.1)
    if name.endswith(".var"):
        return f(1), f(0.5)
    if name.startswith("scale") and name.endswith("_branch2c.weight"):
        return f(0.2), f(0.05)
    if name.startswith("scale") and name.endswith(".weight"):
        return f(1), f(0.25)
    if name.startswith("scale") and name.endswith(".bias"):
        return f(0), f(0.1)
    table = {"rpn_cls_score.weight": (f(0), he), "rpn_cls_score.bias": (f(0), f(1)),
             "rpn_bbox_pred.weight": (f(0), f(0.1) * he), "cls_score.weight": (f(0), he),
             "cls_score.bias": (f(0), f(2)), "bbox_pred.weight": (f(0), f(0.1) * he),
             "cls_embedding.weight": (f(0), f(1)), "attr_score.weight": (f(0), f(3) * he)}
    if name in table:
        return table[name]
    if name.endswith(".bias"):
        return f(0), f(0.1)
    return f(0), he


def random_weights(c, seed):
    w = {}
    for name, shape in params(c):
        off, scale = random_spec(name, shape)
        u = splitmix_uniform((seed ^ fnv1a64(name)) & MASK, int(np.prod(shape)))
        w[name] = (off + scale * u).astype(np.float32).reshape(shape)
    return w

# ---------------------------------------------------------------- preprocessing


def im_scale(w, h, target=600, max_size=1000):
    """test.py, _get_image_blob: short side to target unless np.round(scale * long) > max."""
    s = float(target) / float(min(w, h))
    if np.round(s * max(w, h)) > max_size:
        s = float(max_size) / float(max(w, h))
    return s


def cv2_linear_axis(n_in, n_out, inv):
    """cv2.resize INTER_LINEAR source indices and float32 weights along one axis."""
    d = np.arange(n_out, dtype=np.float64)
    f = ((d + 0.5) * inv - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    left = s < 0
    f[left], s[left] = 0, 0
    right = s >= n_in - 1
    f[right], s[right] = 0, n_in - 1
    return s, np.minimum(s + 1, n_in - 1), (np.float32(1) - f).astype(np.float32), f.astype(np.float32)


def preprocess(rgb, target=600, max_size=1000):
    """rgb uint8 [H, W, 3] -> (blob [3, H', W'] float32 BGR - means, im_scale)."""
    means = np.array([102.9801, 115.9465, 122.7717], dtype=np.float32)
    im = rgb[:, :, ::-1].astype(np.float32) - means
    h, w = im.shape[:2]
    s = im_scale(w, h, target, max_size)
    ow, oh = int(np.rint(w * s)), int(np.rint(h * s))
    x0, x1, a0, a1 = cv2_linear_axis(w, ow, 1.0 / s)
    y0, y1, b0, b1 = cv2_linear_axis(h, oh, 1.0 / s)
    tmp = im[:, x0, :] * a0[None, :, None] + im[:, x1, :] * a1[None, :, None]
    out = tmp[y0, :, :] * b0[:, None, None] + tmp[y1, :, :] * b1[:, None, None]
    return np.ascontiguousarray(out.transpose(2, 0, 1)), s

# ---------------------------------------------------------------- boxes, NMS


def generate_anchors(base, ratios, scales):
    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mk(ws, hs, xc, yc):
        return np.stack([xc - 0.5 * (ws - 1), yc - 0.5 * (hs - 1), xc + 0.5 * (ws - 1), yc + 0.5 * (hs - 1)], 1)

    w, h, xc, yc = whctrs(np.array([0, 0, base - 1, base - 1], dtype=np.float64))
    ratios = np.array(ratios, dtype=np.float64)
    ws = np.round(np.sqrt(w * h / ratios))
    hs = np.round(ws * ratios)
    ra = mk(ws, hs, xc, yc)
    out = []
    for a in ra:
        rw, rh, rx, ry = whctrs(a)
        sc = np.array(scales, dtype=np.float64)
        out.append(mk(rw * sc, rh * sc, rx, ry))
    return np.vstack(out)


def bbox_transform_inv(boxes, deltas):
    boxes = boxes.astype(np.float32)
    w = boxes[:, 2] - boxes[:, 0] + np.float32(1)
    h = boxes[:, 3] - boxes[:, 1] + np.float32(1)
    cx = boxes[:, 0] + np.float32(0.5) * w
    cy = boxes[:, 1] + np.float32(0.5) * h
    pcx = deltas[:, 0] * w + cx
    pcy = deltas[:, 1] * h + cy
    pw = np.exp(deltas[:, 2]) * w
    ph = np.exp(deltas[:, 3]) * h
    half = np.float32(0.5)
    return np.stack([pcx - half * pw, pcy - half * ph, pcx + half * pw, pcy + half * ph], 1).astype(np.float32)


def clip_boxes(b, h, w):
    b = b.copy()
    b[:, 0::2] = np.maximum(np.minimum(b[:, 0::2], np.float32(w - 1)), 0)
    b[:, 1::2] = np.maximum(np.minimum(b[:, 1::2], np.float32(h - 1)), 0)
    return b


def argsort_desc(scores):
    """np.argsort(...)[::-1] with a stable sort (ties: higher index first)."""
    return np.argsort(scores, kind='stable')[::-1]


def iou_matrix(boxes):
    """nms_kernel.cu devIoU in float32: +1 widths and areas."""
    b = boxes.astype(np.float32)
    one = np.float32(1)
    l = np.maximum(b[:, None, 0], b[None, :, 0])
    r = np.minimum(b[:, None, 2], b[None, :, 2])
    t = np.maximum(b[:, None, 1], b[None, :, 1])
    bo = np.minimum(b[:, None, 3], b[None, :, 3])
    iw = np.maximum(r - l + one, np.float32(0))
    ih = np.maximum(bo - t + one, np.float32(0))
    inter = iw * ih
    area = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    return inter / (area[:, None] + area[None, :] - inter)


def nms(boxes, scores, thresh, limit=0, iou=None):
    """gpu_nms: order by score, keep greedily, drop later boxes with IoU > thresh.
    iou (optional) is iou_matrix(boxes), reused when many score vectors share the boxes."""
    order = argsort_desc(scores)
    b = boxes[order].astype(np.float32)
    one = np.float32(1)
    area = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    removed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if removed[i]:
            continue
        keep.append(order[i])
        if limit and len(keep) == limit:
            break
        if iou is not None:
            ovr = iou[order[i], order[i + 1:]]
        else:
            l = np.maximum(b[i, 0], b[i + 1:, 0])
            t = np.maximum(b[i, 1], b[i + 1:, 1])
            r = np.minimum(b[i, 2], b[i + 1:, 2])
            bo = np.minimum(b[i, 3], b[i + 1:, 3])
            inter = np.maximum(r - l + one, np.float32(0)) * np.maximum(bo - t + one, np.float32(0))
            ovr = inter / (area[i] + area[i + 1:] - inter)
        removed[i + 1:] |= ovr > thresh
    return np.array(keep, dtype=np.int64)

# ---------------------------------------------------------------- network


class Net:
    def __init__(self, c, w, fold=False):
        self.c, self.fold = c, fold
        self.t = {k: torch.from_numpy(v) for k, v in w.items()}
        self.anchors = generate_anchors(c['anchor_base'], c['anchor_ratios'], c['anchor_scales'])
        self.folded = {}
        if fold:
            for s in self.all_convs():
                self.folded[s['name']] = self.fold_conv(s)

    def all_convs(self):
        out = [stem_spec(self.c)]
        for st in range(4):
            for b in stage_specs(self.c, st):
                out += ([b['branch1']] if b['branch1'] else []) + b['branch2']
        return out

    def fold_conv(self, s):
        t = {k: v.double() for k, v in self.t.items() if k.startswith((s['name'] + '.', s['bn'] + '.', s['scale'] + '.'))}
        sc = t[s['scale'] + '.weight'] / torch.sqrt(t[s['bn'] + '.var'] + self.c['bn_eps'])
        return ((t[s['name'] + '.weight'] * sc[:, None, None, None]).float(),
                (t[s['scale'] + '.bias'] - t[s['bn'] + '.mean'] * sc).float())

    def conv_bn(self, x, s, relu):
        if self.fold:
            w, b = self.folded[s['name']]
            y = F.conv2d(x, w, b, s['stride'], s['pad'], s['dil'])
        else:
            t = self.t
            y = F.conv2d(x, t[s['name'] + '.weight'], None, s['stride'], s['pad'], s['dil'])
            # Caffe BatchNorm (use_global_stats) then Scale.
            y = (y - t[s['bn'] + '.mean'][None, :, None, None]) / torch.sqrt(t[s['bn'] + '.var'] + self.c['bn_eps'])[None, :, None, None]
            y = y * t[s['scale'] + '.weight'][None, :, None, None] + t[s['scale'] + '.bias'][None, :, None, None]
        return F.relu(y) if relu else y

    def block(self, x, b):
        s = self.conv_bn(x, b['branch1'], False) if b['branch1'] else x
        y = self.conv_bn(x, b['branch2'][0], True)
        y = self.conv_bn(y, b['branch2'][1], True)
        y = self.conv_bn(y, b['branch2'][2], False)
        return F.relu(y + s)

    def trunk(self, img):
        x = self.conv_bn(torch.from_numpy(img)[None], stem_spec(self.c), True)
        x = F.max_pool2d(x, 3, 2, 0, ceil_mode=True)  # Caffe pool1: ceil mode, no pad
        for st in range(3):
            for b in stage_specs(self.c, st):
                x = self.block(x, b)
        return x

    def rpn(self, feat):
        t = self.t
        h = F.relu(F.conv2d(feat, t['rpn_conv/3x3.weight'], t['rpn_conv/3x3.bias'], 1, 1))
        cls = F.conv2d(h, t['rpn_cls_score.weight'], t['rpn_cls_score.bias'])
        box = F.conv2d(h, t['rpn_bbox_pred.weight'], t['rpn_bbox_pred.bias'])
        _, C, H, W = cls.shape
        prob = F.softmax(cls.view(2, C // 2 * H, W), dim=0).view(C, H, W)
        return prob[C // 2:].numpy(), box[0].numpy()

    def proposals(self, fg, deltas, im_h, im_w, scale, pre=6000, post=300, thresh=0.7, min_size=16):
        A, H, W = fg.shape
        st = self.c['feat_stride']
        sx, sy = np.meshgrid(np.arange(W) * st, np.arange(H) * st)
        shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], 1)
        anchors = (self.anchors[None] + shifts[:, None]).reshape(-1, 4)
        d = deltas.transpose(1, 2, 0).reshape(-1, 4)
        scores = fg.transpose(1, 2, 0).reshape(-1)
        props = clip_boxes(bbox_transform_inv(anchors, d), im_h, im_w)
        ms = np.float32(min_size) * np.float32(scale)
        ws = props[:, 2] - props[:, 0] + np.float32(1)
        hs = props[:, 3] - props[:, 1] + np.float32(1)
        keep = np.where((ws >= ms) & (hs >= ms))[0]
        props, scores = props[keep], scores[keep]
        order = argsort_desc(scores)[:pre]
        props, scores = props[order], scores[order]
        keep = nms(props, scores, thresh, limit=post)
        return props[keep], scores[keep]

    def head(self, feat, rois, chunk=0):
        import torchvision
        c, t = self.c, self.t
        r = torch.cat([torch.zeros(len(rois), 1), torch.from_numpy(rois)], 1)
        pooled = torchvision.ops.roi_pool(feat, r, (c['pooled'], c['pooled']), 1.0 / c['feat_stride'])
        x = pooled
        for b in stage_specs(c, 3):
            x = self.block(x, b)
        pool5 = x.mean(dim=(2, 3))
        cls = F.linear(pool5, t['cls_score.weight'], t['cls_score.bias'])
        bbox = F.linear(pool5, t['bbox_pred.weight'], t['bbox_pred.bias'])
        prob = F.softmax(cls, dim=1)
        pred = cls.argmax(1)
        emb = t['cls_embedding.weight'][pred]
        a = F.relu(F.linear(torch.cat([pool5, emb], 1), t['fc_attr.weight'], t['fc_attr.bias']))
        attr = F.softmax(F.linear(a, t['attr_score.weight'], t['attr_score.bias']), dim=1)
        return dict(pooled=pooled.numpy(), pool5=pool5.numpy(), cls_score=cls.numpy(), cls_prob=prob.numpy(),
                    bbox_pred=bbox.numpy(), pred_cls=pred.numpy(), attr_prob=attr.numpy())

    def forward(self, blob, scale, times=None):
        times = {} if times is None else times
        with torch.no_grad():
            t0 = time.perf_counter()
            feat = self.trunk(blob)
            t1 = time.perf_counter()
            fg, deltas = self.rpn(feat)
            t2 = time.perf_counter()
            rois, rscores = self.proposals(fg, deltas, blob.shape[1], blob.shape[2], scale)
            t3 = time.perf_counter()
            out = self.head(feat, rois)
            t4 = time.perf_counter()
        times.update(trunk=(t1 - t0) * 1e3, rpn=(t2 - t1) * 1e3, proposals=(t3 - t2) * 1e3, head=(t4 - t3) * 1e3)
        out.update(feat=feat[0].numpy(), rpn_fg=fg, rpn_deltas=deltas, rois=rois, roi_scores=rscores)
        return out

# ---------------------------------------------------------------- selection (tools/generate_tsv.py)


def select_generate_tsv(rois, scale, cls_prob, conf=0.2, min_boxes=10, max_boxes=100, nms_thresh=0.3):
    cls_boxes = rois / np.float32(scale)
    iou = iou_matrix(cls_boxes)
    max_conf = np.zeros(len(rois))
    for c in range(1, cls_prob.shape[1]):
        s = cls_prob[:, c]
        keep = nms(cls_boxes, s, nms_thresh, iou=iou)
        max_conf[keep] = np.where(s[keep] > max_conf[keep], s[keep], max_conf[keep])
    keep = np.where(max_conf >= conf)[0]
    if len(keep) < min_boxes:
        keep = argsort_desc(max_conf)[:min_boxes]
    elif len(keep) > max_boxes:
        keep = argsort_desc(max_conf)[:max_boxes]
    return keep, cls_boxes[keep], max_conf[keep]

# ---------------------------------------------------------------- commands


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    c = default_config()
    w = random_weights(c, args.seed)
    net = Net(c, w, fold=True)
    del w
    rng = np.random.default_rng(0)
    blob = (rng.random((3, 600, 1000), dtype=np.float32) * 255 - 128).astype(np.float32)
    results = []
    for _ in range(args.warmup):
        net.forward(blob, 1.0)
    cpu0 = time.process_time()
    for _ in range(args.rounds):
        times = {}
        t0 = time.perf_counter()
        out = net.forward(blob, 1.0, times)
        ms = (time.perf_counter() - t0) * 1e3
        results.append(dict(ms_per_image=ms, stages_ms=times, rois=len(out['rois'])))
    cpu_ms = (time.process_time() - cpu0) * 1e3 / args.rounds
    results.sort(key=lambda r: r['ms_per_image'])
    med = results[len(results) // 2]  # the median round, as vlbert bench detect reports
    rep = dict(images_per_s=1e3 / med['ms_per_image'], ms_per_image=med['ms_per_image'],
               min_ms=results[0]['ms_per_image'], max_ms=results[-1]['ms_per_image'],
               stages_ms=med['stages_ms'], rois=med['rois'], peak_rss_mb=peak_rss_mb(), threads=args.threads,
               cpu_ms_per_image=cpu_ms)
    print(json.dumps(rep) if args.json else rep)


def load_rgb(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert('RGB'))


def cmd_run(args):
    torch.set_num_threads(args.threads)
    c = reduced_config() if args.reduced else default_config()
    net = Net(c, random_weights(c, args.seed), fold=args.fold)
    rgb = load_rgb(args.image)
    blob, scale = preprocess(rgb, args.target, args.max_size)
    out = net.forward(blob, scale)
    keep, boxes, conf = select_generate_tsv(out['rois'], scale, out['cls_prob'])
    sel = dict(sel_index=keep, sel_boxes=boxes, sel_conf=conf.astype(np.float32),
               sel_features=out['pool5'][keep], sel_cls=out['cls_prob'][keep].argmax(1),
               sel_attr=out['attr_prob'][keep].argmax(1), rois=out['rois'], roi_scores=out['roi_scores'],
               im_scale=np.array([scale]))
    np.savez(args.out, **sel)
    print("%d proposals, %d boxes selected" % (len(out['rois']), len(keep)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('bench')
    b.add_argument('--threads', type=int, default=1)
    b.add_argument('--rounds', type=int, default=3)
    b.add_argument('--warmup', type=int, default=1)
    b.add_argument('--seed', type=int, default=1)
    b.add_argument('--json', action='store_true')
    r = sub.add_parser('run')
    r.add_argument('image')
    r.add_argument('--out', required=True)
    r.add_argument('--seed', type=int, default=1)
    r.add_argument('--reduced', action='store_true')
    r.add_argument('--fold', action='store_true')
    r.add_argument('--threads', type=int, default=2)
    r.add_argument('--target', type=int, default=600)
    r.add_argument('--max-size', type=int, default=1000)
    a = p.parse_args()
    {'bench': cmd_bench, 'run': cmd_run}[a.cmd](a)


if __name__ == '__main__':
    main()
