"""Golden for a Bottleneck with training-mode BatchNorm (bntrain_test.go): the
original's block (common/backbone/resnet/resnet.py, Bottleneck, stride_in_1x1,
dilation 2, downsample) with nn.BatchNorm2d in train(); one forward, the
backward of sum(out * dout), and the running statistics after it.
Run: /usr/bin/python3 gen_bntrain_block.py"""
import json
import torch
import torch.nn as nn

torch.manual_seed(1818)
N, C, P, H, W, D = 2, 8, 4, 5, 5, 2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(C, P, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(P)
        self.conv2 = nn.Conv2d(P, P, 3, padding=D, dilation=D, bias=False)
        self.bn2 = nn.BatchNorm2d(P)
        self.conv3 = nn.Conv2d(P, 4 * P, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * P)
        self.downsample = nn.Sequential(nn.Conv2d(C, 4 * P, 1, bias=False), nn.BatchNorm2d(4 * P))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + self.downsample(x))


blk = Block()
with torch.no_grad():
    for name, t in blk.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            t.copy_(torch.rand(t.shape) + 0.5)
        else:
            t.copy_(torch.randn(t.shape) * (0.5 if "conv" in name or "downsample.0" in name else 1))
init = {k: v.clone() for k, v in blk.state_dict().items()}
x = torch.randn(N, C, H, W).requires_grad_()
blk.train()
out = blk(x)
dout = torch.randn(out.shape)
(out * dout).sum().backward()
flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
json.dump({
    "shape": [N, C, P, H, W, D],
    "init": {k: flat(v) for k, v in init.items() if not k.endswith("num_batches_tracked")},
    "x": flat(x), "dout": flat(dout), "out": flat(out), "dx": flat(x.grad),
    "grad": {k: flat(p.grad) for k, p in blk.named_parameters()},
    "after": {k: flat(v) for k, v in blk.state_dict().items() if "running" in k},
    "num_batches_tracked": int(blk.bn1.num_batches_tracked),
}, open("bntrain_block.json", "w"))
