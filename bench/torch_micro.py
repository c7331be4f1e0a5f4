#!/usr/bin/env python3
"""PyTorch timings of the single operations bench/proto measures in vlbert (1 thread):
GELU forward/backward on [808, 3072], the FFN-up product, and clip + AdamW + zero_grad
on 16M parameters. Prints wall and process CPU ms per call."""
import resource
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return (r.ru_utime + r.ru_stime) * 1e3
def t(name, fn, n=3):
    fn(); c = cpu(); w = time.perf_counter()
    for _ in range(n): fn()
    print(f"{name}: {(time.perf_counter()-w)*1e3/n:.1f} wall-ms {(cpu()-c)/n:.1f} cpu-ms")
x = torch.randn(808, 3072) * 0.5
t("gelu fwd 808x3072", lambda: F.gelu(x))
xr = x.clone().requires_grad_()
y = F.gelu(xr); d = torch.randn_like(y)
t("gelu bwd 808x3072", lambda: torch.ops.aten.gelu_backward(d, x))
a = torch.randn(808, 768); w = torch.randn(3072, 768)
t("linear 808x768 -> 3072 (no bias)", lambda: a @ w.t())
n = 16 << 20
for fe in (False, True):
    p = torch.nn.Parameter(torch.randn(n) * 0.5); g0 = torch.randn(n) * 0.5
    opt = torch.optim.AdamW([p], lr=1e-5, eps=1e-6, weight_decay=1e-4, foreach=fe)
    def step():
        p.grad = g0.clone()
        torch.nn.utils.clip_grad_norm_([p], 1.0)
        opt.step(); opt.zero_grad()
    t(f"adamw 16M clip+step+zero foreach={fe}", step)
t("clone 16M", lambda: g0.clone())
