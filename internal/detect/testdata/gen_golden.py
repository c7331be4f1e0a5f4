#!/usr/bin/python3
"""Writes the detector goldens of internal/detect (golden_test.go) from the PyTorch
reference bench/detect_torch.py, on the reduced-width network (reduced_config) with
the seeded weights both sides generate (seed 7):

  stages.npz  one small run (chelsea_240x160.png at TEST.SCALES 64 / MAX_SIZE 100) with
              every stage: the preprocessed blob, res4 map, RPN foreground probabilities and
              deltas, proposals, RoI pooling of the first 2 proposals, pool5, class / box /
              attribute outputs, generate_tsv's selection
  photo.npz   the same photo at the test settings (600 / 1000): proposals and the
              generate_tsv selection (indices, boxes, max_conf, features, classes, attributes)
  releases.npz  the photo at the test settings as photo.npz, but with the weights of the
              synthetic releases (internal/detect/importer/testdata/canonical.pth, from
              gen_releases.py; the caffemodel, HF and MILVLG files all import to them),
              plus the selected boxes' class and attribute probabilities
  ops.npz     torchvision.ops.nms on tie-free boxes widened by one pixel, and
              torchvision.ops.roi_pool, on random inputs (the conventions that agree with
              the original's)

Run from the repository root:  /usr/bin/python3 internal/detect/testdata/gen_golden.py [releases]
(with "releases", only releases.npz is written)
"""
import os
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', '..', 'bench'))
import detect_torch as d  # noqa: E402

SEED = 7


def save(name, **arrays):
    path = os.path.join(HERE, name)
    np.savez_compressed(path, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    print(name, os.path.getsize(path), 'bytes')


WSAMPLES = ['conv1.weight', 'bn_conv1.var', 'scale2a_branch2c.weight', 'rpn_cls_score.weight', 'cls_score.bias',
            'bbox_pred.weight', 'cls_embedding.weight', 'attr_score.weight']


def stages(net, rgb):
    blob, scale = d.preprocess(rgb, 64, 100)
    wsamples = {'w:' + k: net.t[k].numpy().ravel()[:64] for k in WSAMPLES}
    out = net.forward(blob, scale)
    keep, boxes, conf = d.select_generate_tsv(out['rois'], scale, out['cls_prob'])
    keep2, _, _ = d.select_generate_tsv(out['rois'], scale, out['cls_prob'], conf=0.5)
    keep36, _, _ = d.select_generate_tsv(out['rois'], scale, out['cls_prob'], min_boxes=36, max_boxes=36)
    save('stages.npz', blob=blob, im_scale=np.array([scale]), feat=out['feat'], rpn_fg=out['rpn_fg'],
         rpn_deltas=out['rpn_deltas'], rois=out['rois'], roi_scores=out['roi_scores'],
         pooled2=out['pooled'][:2], pool5=out['pool5'], cls_prob=out['cls_prob'], bbox_pred=out['bbox_pred'],
         pred_cls=out['pred_cls'], attr_prob=out['attr_prob'], sel_index=keep, sel_boxes=boxes,
         sel_conf=conf.astype(np.float32), sel_index_v2=keep2, sel_index_36=keep36, **wsamples)


def photo(net, rgb, name='photo.npz', probs=False):
    blob, scale = d.preprocess(rgb)
    out = net.forward(blob, scale)
    keep, boxes, conf = d.select_generate_tsv(out['rois'], scale, out['cls_prob'])
    keep15, _, _ = d.select_generate_tsv(out['rois'], scale, out['cls_prob'], conf=0.15)
    save(name, sel_index_c15=keep15, im_scale=np.array([scale]), blob_shape=np.array(blob.shape), rois=out['rois'],
         roi_scores=out['roi_scores'], sel_index=keep, sel_boxes=boxes, sel_conf=conf.astype(np.float32),
         sel_features=out['pool5'][keep], sel_cls=out['cls_prob'][keep].argmax(1),
         sel_attr=out['attr_prob'][keep].argmax(1),
         **(dict(sel_cls_prob=out['cls_prob'][keep], sel_attr_prob=out['attr_prob'][keep]) if probs else {}))


def ops():
    rng = np.random.default_rng(3)
    n = 120
    xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
    wh = rng.uniform(4, 80, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / n + np.float32(0.001)  # distinct
    widened = torch.from_numpy(boxes + np.array([0, 0, 1, 1], np.float32))
    keeps = {}
    for t in (0.3, 0.5, 0.7):
        keeps['nms_keep_%d' % int(t * 10)] = torchvision.ops.nms(widened, torch.from_numpy(scores), t).numpy()
    C, H, W = 3, 20, 30
    feat = rng.standard_normal((C, H, W)).astype(np.float32)
    r = 40
    x1 = rng.uniform(-40, 500, r)
    y1 = rng.uniform(-40, 330, r)
    rois = np.stack([x1, y1, x1 + rng.uniform(-5, 200, r), y1 + rng.uniform(-5, 150, r)], 1).astype(np.float32)
    rois[0] = [0, 0, 0, 0]            # a point
    rois[1] = [7.9, 8.1, 8.0, 8.2]    # rounds (half away from zero) to one cell
    rois[2] = [600, 400, 700, 500]    # wholly outside: every bin empty
    rois[3] = [24, 24, 8, 8]          # reversed corners: width clamps to 1
    t = torch.cat([torch.zeros(r, 1), torch.from_numpy(rois)], 1)
    pooled = torchvision.ops.roi_pool(torch.from_numpy(feat)[None], t, (7, 7), 1.0 / 16).numpy()
    save('ops.npz', nms_boxes=boxes, nms_scores=scores, roi_feat=feat, roi_boxes=rois, roi_pooled=pooled, **keeps)


def release_net():
    """The network of gen_releases.py's canonical.pth: its tiny widths, Caffe semantics."""
    path = os.path.join(HERE, '..', 'importer', 'testdata', 'canonical.pth')
    w = {k: v.numpy() for k, v in torch.load(path).items()}
    c = d.default_config()
    c.update(num_classes=w['cls_score.bias'].shape[0], num_attributes=w['attr_score.bias'].shape[0],
             stem=w['conv1.weight'].shape[0], blocks=[1, 1, 2, 1], bottleneck=[2, 3, 4, 5], expansion=2,
             rpn_width=w['rpn_conv/3x3.bias'].shape[0], embed=w['cls_embedding.weight'].shape[1],
             attr_hidden=w['fc_attr.bias'].shape[0])
    assert sorted(n for n, _ in d.params(c)) == sorted(w), 'canonical.pth does not match the tiny config'
    return d.Net(c, w)


def main():
    torch.set_num_threads(2)
    rgb = d.load_rgb(os.path.join(HERE, 'chelsea_240x160.png'))
    # The tiny release weights give one class and one attribute everywhere, so
    # releases.npz also has the selected boxes' probability rows.
    photo(release_net(), rgb, 'releases.npz', probs=True)
    if sys.argv[1:] == ['releases']:
        return
    c = d.reduced_config()
    net = d.Net(c, d.random_weights(c, SEED))
    stages(net, rgb)
    photo(net, rgb)
    ops()


if __name__ == '__main__':
    main()
