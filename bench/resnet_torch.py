#!/usr/bin/env python3
"""PyTorch reference timing for `vlbert features` / BenchmarkResNet101Forward600x1000.

Times one 600x1000 image through a ResNet-101 C4 backbone (conv1..layer3, Caffe
style: the stage stride sits in the first 1x1 conv) and the dilated res5 RoI head
(layer4 with stride 1, dilation 2) over 14x14 legacy RoIAlign outputs
(torchvision.ops.roi_align, aligned=False, sampling_ratio=1, scale 1/16), then
AvgPool(14): the shape of VL-BERT's e2e FastRCNN and of internal/visual.
Eval mode, no_grad, random weights, float32, batch 1.

Usage (Debian: apt-get install -y python3-torch python3-torchvision; use the
system python, /usr/bin/python3):

    /usr/bin/python3 bench/resnet_torch.py --threads 1 --boxes 36 100 --reps 3

With --bench features|e2e it instead prints one JSON line with the keys of
`vlbert bench features --json` / `vlbert bench e2e --json` (same shapes, boxes
and step definition; bench/compare_cnn.sh alternates the two):

    /usr/bin/python3 bench/resnet_torch.py --bench e2e --threads 2 --images 1 --boxes 10

It prints the backend (oneDNN/mkldnn for convolutions when enabled, the BLAS),
the FLOP count and min/median/max wall seconds (and the process CPU seconds,
which a loaded machine inflates less) per image for the backbone alone and
for the head alone (RoIAlign + res5 + pool over a fixed body4 map) with each box
count; an image costs backbone + head. Each case runs once untimed first. The
Go side (same split, same box coordinates):

    GOMAXPROCS=1 go test ./internal/visual -run XXX \\
        -bench ResNet101Forward600x1000 -benchtime 3x

Not used by any test; the repository does not depend on Python.
"""

import argparse
import copy
import json
import statistics
import time

import torch
import torchvision
from torchvision.ops import roi_align


def build(caffe_style=True):
    m = torchvision.models.resnet101(weights=None)
    if caffe_style:
        for layer in (m.layer2, m.layer3, m.layer4):
            layer[0].conv1.stride = (2, 2)
            layer[0].conv2.stride = (1, 1)
    backbone = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3)
    head = copy.deepcopy(m.layer4)
    head[0].conv1.stride = (1, 1)
    head[0].downsample[0].stride = (1, 1)
    for blk in head:
        blk.conv2.stride = (1, 1)
        blk.conv2.dilation = (2, 2)
        blk.conv2.padding = (2, 2)
    backbone.eval()
    head.eval()
    return backbone, head


def make_rois(n, images=1, height=600, width=1000):
    """The boxes of `vlbert bench features/e2e` (cmd/vlbert/bench_features.go,
    benchRoIs): n per image, image by image, clipped to the image."""
    rois = []
    for b in range(images):
        for r in range(n):
            x1, y1 = float(r * 97 % max(width - 200, 1)), float(r * 61 % max(height - 150, 1))
            x2 = min(x1 + 40 + r * 13 % 160, width - 1.0)
            y2 = min(y1 + 30 + r * 7 % 120, height - 1.0)
            rois.append([float(b), x1, y1, x2, y2])
    return torch.tensor(rois, dtype=torch.float32)


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_json(args):
    """One JSON line with the keys of `vlbert bench features --json` (features:
    eval, no_grad) or `vlbert bench e2e --json` (e2e: the CNN half of the e2e
    RefCOCO+ training step: conv1/bn1/layer1 frozen, every BatchNorm frozen
    (eval mode, no parameter gradient, as FrozenBatchNorm2d), forward on the
    images, RoIAlign, res5 head and average pool over the boxes, then backward
    of sum(features * g) into layer2, layer3 and the head)."""
    torch.manual_seed(0)
    backbone, head = build()
    e2e = args.bench == "e2e"
    if e2e:
        for mod in list(backbone.modules()) + list(head.modules()):
            if isinstance(mod, torch.nn.BatchNorm2d):
                for p in mod.parameters():
                    p.requires_grad_(False)
        for mod in (backbone[0], backbone[1], backbone[4]):  # conv1, bn1, layer1
            for p in mod.parameters():
                p.requires_grad_(False)
    N, H, W = args.images, args.height, args.width
    x = torch.randn(N, 3, H, W) * 50
    rois = make_rois(args.boxes, N, H, W)
    g = torch.randn(rois.shape[0], 2048)
    stage_names = ["stem", "layer1", "layer2", "layer3"]
    stages = {}

    def forward(timed):
        t0 = time.perf_counter()
        out = x
        # backbone = conv1, bn1, relu, maxpool, layer1, layer2, layer3
        for i, mod in enumerate(backbone):
            out = mod(out)
            if i in (3, 4, 5, 6):
                t1 = time.perf_counter()
                name = stage_names[i - 3]
                timed[name] = (t1 - t0) * 1000
                t0 = t1
        pooled = roi_align(out, rois, output_size=(14, 14), spatial_scale=1.0 / 16, sampling_ratio=1, aligned=False)
        t1 = time.perf_counter()
        timed["roialign"] = (t1 - t0) * 1000
        h = head(pooled)
        t2 = time.perf_counter()
        timed["head"] = (t2 - t1) * 1000
        f = h.mean(dim=(2, 3))
        timed["pool"] = (time.perf_counter() - t2) * 1000
        return f

    def step():
        timed = {}
        if e2e:
            f = forward(timed)
            t = time.perf_counter()
            (f * g).sum().backward()
            timed["backward"] = (time.perf_counter() - t) * 1000
            for p in list(backbone.parameters()) + list(head.parameters()):
                p.grad = None
        else:
            with torch.no_grad():
                forward(timed)
        return timed

    for _ in range(args.warmup):
        step()
    ms, per = [], []
    c0 = time.process_time()
    for _ in range(args.steps):
        t = time.perf_counter()
        per.append(step())
        ms.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - c0) * 1000 / args.steps
    med = statistics.median(ms)
    stage_ms = {k: statistics.median([p[k] for p in per]) for k in per[0] if k != "backward"}
    res = {
        "bench": args.bench, "impl": "torch", "ms_per_step": med, "min_ms": min(ms), "max_ms": max(ms),
        "images_per_s": N / (med / 1000), "cpu_ms_per_step": cpu, "stage_ms": stage_ms,
        "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(), "images": N, "boxes": args.boxes,
        "height": H, "width": W, "steps": args.steps, "warmup": args.warmup, "step_ms": ms,
        "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.enabled,
    }
    if e2e:
        res["backward_ms"] = statistics.median([p["backward"] for p in per])
    print(json.dumps(res), flush=True)


def conv_flops(model, x):
    """Multiply-adds x2 of every Conv2d, via forward hooks."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total[0] += 2 * k * out.numel()

    hs = [mm.register_forward_hook(hook) for mm in model.modules() if isinstance(mm, torch.nn.Conv2d)]
    with torch.no_grad():
        out = model(x)
    for h in hs:
        h.remove()
    return total[0], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--boxes", type=int, nargs="+", default=[36, 100])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-mkldnn", action="store_true", help="disable oneDNN (convolutions via im2col + BLAS)")
    ap.add_argument("--bench", choices=["features", "e2e"], help="one JSON line as `vlbert bench features|e2e --json`")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--height", type=int, default=600)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    if args.bench:
        args.boxes = args.boxes[0]
        bench_json(args)
        return
    torch.manual_seed(0)
    backbone, head = build()
    x = torch.randn(1, 3, 600, 1000) * 50

    def features(feat, rois):
        pooled = roi_align(feat, rois, output_size=(14, 14), spatial_scale=1.0 / 16, sampling_ratio=1, aligned=False)
        out = head(pooled)
        return out.mean(dim=(2, 3))

    bb_flops, feat = conv_flops(backbone, x)
    hd_flops, _ = conv_flops(head, torch.zeros(1, 1024, 14, 14))
    info = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?",
        "blas": [l.strip() for l in torch.__config__.show().splitlines() if "BLAS_INFO" in l or "MKL-DNN" in l],
        "body4": list(feat.shape),
        "backbone_gflop": bb_flops / 1e9,
        "head_gflop_per_roi": hd_flops / 1e9,
    }
    print(json.dumps(info))

    def timeit(fn):
        with torch.no_grad():
            fn()  # warm-up: oneDNN primitive creation, allocator
            ts = []
            c0 = time.process_time()
            for _ in range(args.reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            cpu = (time.process_time() - c0) / args.reps
        return {"min": min(ts), "median": statistics.median(ts), "max": max(ts), "cpu_s": cpu, "reps": len(ts)}

    res = {"case": "backbone", **timeit(lambda: backbone(x))}
    print(json.dumps(res), flush=True)
    for n in args.boxes:
        rois = make_rois(n)
        res = {"case": f"head/boxes={n}", **timeit(lambda: features(feat, rois))}
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
