# Prints, for every shipped config, the number of values in the state_dict of
# the original's module built from it (parameters and buffers; storage shared
# by several keys counted once; num_batches_tracked left out): the full-size
# numbers of TestShippedConfigs (shipped_configs_test.go).
#
# Usage, with torch 1.13 (/usr/bin/python3 here), pyyaml, and a checkout of
# jackroos/VL-BERT (4373674):
#   python3 count_original_params.py VL-BERT-DIR ../../config/testdata/cfgs VOCAB.TXT
# VOCAB.TXT is any BERT vocabulary (../../tokenizer/vocab/bert-base-uncased.txt).
# The module's init_weight, the ResNet's ImageNet download and the compiled RoI
# ops are stubbed out: they set values, not shapes.
import glob, importlib, os, shutil, sys, tempfile, types

orig, cfgdir, vocab = sys.argv[1:4]
sys.path.insert(0, orig)


class EasyDict(dict):  # easydict, as the original's config.py uses it
    def __init__(self, d=None, **kw):
        super().__init__()
        for k, v in dict(d or {}, **kw).items():
            self[k] = v

    def __setitem__(self, k, v):
        if isinstance(v, dict) and not isinstance(v, EasyDict):
            v = EasyDict(v)
        elif isinstance(v, list):
            v = [EasyDict(x) if isinstance(x, dict) and not isinstance(x, EasyDict) else x for x in v]
        super().__setitem__(k, v)

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k)

    def __setattr__(self, k, v):
        self[k] = v


def stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m


stub('easydict', EasyDict=EasyDict)
stub('boto3')
stub('botocore')
stub('botocore.exceptions', ClientError=Exception)
stub('tqdm', tqdm=lambda *a, **k: a[0] if a else None)
stub('regex', **{k: getattr(__import__('re'), k) for k in ('compile', 'findall', 'sub')})
stub('common.lib.roi_pooling.C_ROIPooling')
try:
    import requests  # noqa: F401
except ImportError:
    stub('requests')

import yaml
_load = yaml.load
yaml.load = lambda f, Loader=yaml.SafeLoader: _load(f, Loader=Loader)
import torch
import torch.utils.model_zoo
torch.utils.model_zoo.load_url = lambda *a, **k: {}
from common.backbone.resnet import resnet
resnet.ResNet.load_pretrained_state_dict = lambda self, sd: None
from common import fast_rcnn
fast_rcnn.FastRCNN.init_weight = lambda self: None

bert = tempfile.mkdtemp()
shutil.copy(vocab, os.path.join(bert, 'vocab.txt'))
for task in ['pretrain', 'vqa', 'vcr', 'refcoco']:
    for f in sorted(glob.glob(os.path.join(cfgdir, task, '*.yaml'))):
        for m in list(sys.modules):
            if m.startswith(task + '.'):
                del sys.modules[m]
        cfgmod = importlib.import_module(task + '.function.config')
        cfgmod.update_config(f)
        c = cfgmod.config
        c.NETWORK.IMAGE_PRETRAINED = ''
        c.NETWORK.BERT_MODEL_NAME = bert
        cls = getattr(importlib.import_module(task + '.modules'), c.MODULE)
        cls.init_weight = lambda self: None
        with torch.no_grad():
            m = cls(c)
        seen, n = set(), 0
        for k, v in m.state_dict().items():
            if k.endswith('num_batches_tracked') or (v.data_ptr(), v.numel()) in seen:
                continue
            seen.add((v.data_ptr(), v.numel()))
            n += v.numel()
        print('%s/%s %d' % (task, os.path.basename(f), n), flush=True)
        del m
shutil.rmtree(bert)
