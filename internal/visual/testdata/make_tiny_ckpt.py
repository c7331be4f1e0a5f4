#!/usr/bin/env python3
"""Generates the tiny-network fixtures of the region-feature tests (run once,
with Debian's python3-torch 1.13, python3-torchvision 0.14 and python3-pil):

    cd internal/visual/testdata && /usr/bin/python3 make_tiny_ckpt.py

Outputs:
  chelsea_small.png     90x60 RGB crop+downscale of chelsea.jpg (see chelsea.txt)
  tiny_resnet.model     raw ResNet state_dict (conv1, bn1, layer1..layer4, fc, and
                        num_batches_tracked), legacy torch.save format, like
                        resnet101-pt-vgbua-0000.model but with Width 4, one block
                        per stage and a 2-block layer4
  tiny_e2e.model        the same weights as an e2e checkpoint {'state_dict': ...}
                        with module.image_feature_extractor.backbone.*, both
                        roi_head_feature_extractor.* and head.0.* (the original
                        registers the head twice) and an unrelated vlbert key;
                        zip torch.save format
  tiny_feats.npy        float32 [3, 128]: the PyTorch features of the boxes below
                        on chelsea_small.png with the original preprocessing
                        (PIL bilinear resize to 900x600, BGR x255 minus the Caffe
                        means), legacy RoIAlign (aligned=False, 14x14, 1/16,
                        sampling 1), dilated res5 head, AvgPool(14)
The network is written here from the spec (Caffe style: stride in the first
1x1 conv; frozen BN = eval mode), not copied from the original code.
"""
import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import roi_align

W = 4  # Width: stem channels, layer1 planes
BOXES = [[5.0, 4.0, 60.5, 50.0], [30.0, 10.0, 89.0, 59.0], [0.0, 0.0, 89.0, 59.0]]  # original pixels


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride, dilation, down):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if down:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        r = x if self.downsample is None else self.downsample(x)
        return torch.relu(y + r)


class Tiny(nn.Module):
    """Raw-ResNet key layout: conv1, bn1, layer1..layer4 (layer4 = dilated head), fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, W, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(W)
        self.layer1 = nn.Sequential(Bottleneck(W, W, 1, 1, True))
        self.layer2 = nn.Sequential(Bottleneck(4 * W, 2 * W, 2, 1, True))
        self.layer3 = nn.Sequential(Bottleneck(8 * W, 4 * W, 2, 1, True))
        self.layer4 = nn.Sequential(Bottleneck(16 * W, 8 * W, 1, 2, True), Bottleneck(32 * W, 8 * W, 1, 2, False))
        self.fc = nn.Linear(32 * W, 10)

    def body4(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 3, 2, 1)
        return self.layer3(self.layer2(self.layer1(x)))


def main():
    torch.manual_seed(1234)
    net = Tiny().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bn3.weight"):
                p.uniform_(0.1, 0.4)
            elif ".bn" in name or name.startswith("bn") or "downsample.1" in name:
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.2, 0.2)
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.3, 0.3)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)

    img = Image.open("chelsea.jpg").convert("RGB").crop((60, 0, 420, 240)).resize((90, 60), Image.BILINEAR)
    img.save("chelsea_small.png", optimize=True)
    img = Image.open("chelsea_small.png").convert("RGB")
    w, h = img.size
    # get_size(600, 1000): short side 600; long side int(float32 600*90/60) = 900.
    ow, oh = 900, 600
    resized = img.resize((ow, oh), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255
    t = t[[2, 1, 0]] * 255 - torch.tensor([102.9801, 115.9465, 122.7717]).view(3, 1, 1)
    sx = torch.tensor(ow, dtype=torch.float32) / torch.tensor(w, dtype=torch.float32)
    sy = torch.tensor(oh, dtype=torch.float32) / torch.tensor(h, dtype=torch.float32)
    boxes = torch.tensor(BOXES, dtype=torch.float32)
    boxes[:, [0, 2]] *= sx
    boxes[:, [1, 3]] *= sy
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, ow - 1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, oh - 1)
    rois = torch.cat([torch.zeros(len(BOXES), 1), boxes], 1)
    with torch.no_grad():
        feat = net.body4(t[None])
        pooled = roi_align(feat, rois, output_size=(14, 14), spatial_scale=1 / 16, sampling_ratio=1, aligned=False)
        out = net.layer4(pooled).mean(dim=(2, 3))
    np.save("tiny_feats.npy", out.numpy().astype(np.float32))

    sd = net.state_dict()
    torch.save(sd, "tiny_resnet.model", _use_new_zipfile_serialization=False)
    e2e = {"module.vlbert.dummy.weight": torch.zeros(2, 3)}
    for k, v in sd.items():
        if k.startswith("fc."):
            continue
        if k.startswith("layer4."):
            rest = k[len("layer4."):]
            e2e["module.image_feature_extractor.roi_head_feature_extractor." + rest] = v
            e2e["module.image_feature_extractor.head.0." + rest] = v
        else:
            e2e["module.image_feature_extractor.backbone." + k] = v
    torch.save({"epoch": 3, "state_dict": e2e}, "tiny_e2e.model")
    print("features", out.shape, float(out.abs().mean()))


if __name__ == "__main__":
    main()
