# Writes PyTorch references for the heads tests (run with /usr/bin/python3, torch 1.13,
# from this directory): the VQA/VCR final_mlp of CLASSIFIER_TYPE 2fc in eval mode
# (nn.Sequential(Dropout, Linear, ReLU, Dropout, Linear)) with its gradients, the VCR
# CLASSIFIER_SIGMOID loss with a positive weight written as the original's
# train_forward does, and ACT2FN's swish.
import numpy as np
import torch

torch.manual_seed(0)
n, H, CH, O = 3, 5, 7, 4
h = torch.randn(n, H, dtype=torch.float64, requires_grad=True)
mlp = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(H, CH), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(CH, O)).double().eval()
out = mlp(h)
g = torch.randn(n, O, dtype=torch.float64)
(out * g).sum().backward()
arrays = {"h": h, "w1": mlp[1].weight, "b1": mlp[1].bias, "w2": mlp[4].weight, "b2": mlp[4].bias, "out": out, "g": g,
          "dh": h.grad, "dw1": mlp[1].weight.grad, "db1": mlp[1].bias.grad, "dw2": mlp[4].weight.grad, "db2": mlp[4].bias.grad}

# vcr/modules/resnet_vlbert_for_vcr.py, train_forward, CLASSIFIER_SIGMOID.
pw = 3.0
logits = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
label = torch.tensor([2, 0])
_, choice = torch.meshgrid(torch.arange(2), torch.arange(4))
binary = (choice == label.unsqueeze(1))
weight = logits.new_zeros(logits.shape).fill_(1.0)
weight[binary == 1] = pw
loss = (pw + 1.0) / (2.0 * pw) * torch.nn.functional.binary_cross_entropy_with_logits(logits, binary.to(logits.dtype), weight=weight)
loss.backward()
arrays.update({"bce_logits": logits, "bce_loss": loss.reshape(1), "bce_grad": logits.grad})

x = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
s = x * torch.sigmoid(x)
s.sum().backward()
arrays.update({"swish_x": x, "swish_y": s, "swish_dy": x.grad})

for k, v in arrays.items():
    np.save("ref_%s.npy" % k, v.detach().numpy().astype(np.float32))
