"""Golden for TrainBN (bntrain_test.go): nn.BatchNorm2d in training mode, one
forward + backward of sum(out * dout), and the running statistics after it.
Run with a Python that has torch: /usr/bin/python3 gen_bntrain.py"""
import json
import torch

torch.manual_seed(18)
N, C, H, W = 3, 4, 3, 2
bn = torch.nn.BatchNorm2d(C)  # momentum 0.1, eps 1e-5
with torch.no_grad():
    bn.weight.copy_(torch.randn(C))
    bn.bias.copy_(torch.randn(C))
    bn.running_mean.copy_(torch.randn(C))
    bn.running_var.copy_(torch.rand(C) + 0.5)
init = {k: v.clone() for k, v in bn.state_dict().items()}
x = (torch.randn(N, C, H, W) * 2 + 0.5).requires_grad_()
dout = torch.randn(N, C, H, W)
bn.train()
y = bn(x)
(y * dout).sum().backward()
bn.eval()
y_eval = bn(x.detach())
flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
json.dump({
    "shape": [N, C, H, W],
    "weight": flat(init["weight"]), "bias": flat(init["bias"]),
    "running_mean": flat(init["running_mean"]), "running_var": flat(init["running_var"]),
    "x": flat(x), "dout": flat(dout),
    "y": flat(y), "dx": flat(x.grad), "dweight": flat(bn.weight.grad), "dbias": flat(bn.bias.grad),
    "running_mean_after": flat(bn.running_mean), "running_var_after": flat(bn.running_var),
    "num_batches_tracked_after": int(bn.num_batches_tracked),
    "y_eval_after": flat(y_eval),
}, open("bntrain.json", "w"), indent=0)
