#!/usr/bin/python3
"""Generate EfficientFormer (V1) ONNX test models the way timm users export them.

A self-contained PyTorch re-implementation of timm's `timm/models/efficientformer.py` (same module
tree, parameter names, op order and therefore the same torch.onnx export), with random but
realistic, seeded weights, exported with torch.onnx.export; optionally writes random inputs and
the ONNX Runtime outputs for them (via scripts/ort_run.mjs, onnxruntime-node).

scripts/gen_efficientformer_v2.py (EfficientFormerV2) imports this file's weight recipe
(SeededDraws, init_norm_or_linear, finish_init), branch_report, export and golden writing
(add_output_args, export_with_goldens).

Needs /usr/bin/python3 with torch 1.13, onnx and numpy (timm is not needed), and node +
`npm install --ignore-scripts` in the repository root for the ONNX Runtime outputs.

Examples:
  # timm efficientformer_l1 at 224, opset 11, the user's export
  /usr/bin/python3 scripts/gen_efficientformer.py --arch l1 --out /tmp/l1.onnx --num-inputs 0
  # a tiny L1-shaped model with 2 random inputs and their ORT outputs in tests/models/tiny_op11/
  /usr/bin/python3 scripts/gen_efficientformer.py --arch custom --depths 1,1,2,2 \
      --widths 16,24,32,48 --num-vit 1 --img-size 64 --num-classes 10 --key-dim 8 --heads 2 \
      --opset 11 --out tests/models/tiny_op11.onnx
  # check this re-implementation against the shared timm export and its PyTorch golden logits
  /usr/bin/python3 scripts/gen_efficientformer.py --validate ../shared

Weights (see ../shared/README.md for the recipe this follows): timm's init, then every branch is
made to matter: BatchNorm/LayerNorm affine U(0.5,1.5) / N(0,0.1); BatchNorm running statistics
measured on a deterministic batch of synthetic smooth images (train-mode pass) and then perturbed;
layer scales U(0.2,0.8); attention bias tables N(0,1); linear layers N(0, 1/fan_in) (last stage;
about timm's 0.02 x 2.5 at L1's width 448) with N(0,0.05) biases; classifier heads N(0, 4/fan_in)
with head_dist.bias == head.bias (as in a fresh timm model, whose two zero biases the exporter
deduplicates into an Identity node). Conv layers keep PyTorch's default init.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EfficientFormer_width = {
    'l1': (48, 96, 224, 448),
    'l3': (64, 128, 320, 512),
    'l7': (96, 192, 384, 768),
}
EfficientFormer_depth = {
    'l1': (3, 2, 6, 4),
    'l3': (4, 4, 12, 6),
    'l7': (6, 6, 18, 8),
}
EfficientFormer_num_vit = {'l1': 1, 'l3': 4, 'l7': 8}


# ------------------------------------------------------------------------------------------------
# Model: mirrors timm/models/efficientformer.py (timm 0.9.x). Differences, all export-neutral:
# Attention takes key_dim/num_heads/attn_ratio/resolution from the model (timm hard-codes
# Attention(dim): key_dim 32, 8 heads, ratio 4, resolution 7, i.e. a 224 input); no DropPath /
# Dropout modules (timm's are Identity / p=0 at inference); timm.layers.Mlp is inlined (its `norm`
# is Identity and its dropouts p=0).
# ------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim=384, key_dim=32, num_heads=8, attn_ratio=4, resolution=7):
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim ** -0.5
        self.key_dim = key_dim
        self.key_attn_dim = key_dim * num_heads
        self.val_dim = int(attn_ratio * key_dim)
        self.val_attn_dim = self.val_dim * num_heads
        self.attn_ratio = attn_ratio

        self.qkv = nn.Linear(dim, self.key_attn_dim * 2 + self.val_attn_dim)
        self.proj = nn.Linear(self.val_attn_dim, dim)

        resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        pos = torch.stack(torch.meshgrid(torch.arange(resolution[0]), torch.arange(resolution[1]),
                                         indexing='ij')).flatten(1)
        rel_pos = (pos[..., :, None] - pos[..., None, :]).abs()
        rel_pos = (rel_pos[0] * resolution[1]) + rel_pos[1]
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, resolution[0] * resolution[1]))
        self.register_buffer('attention_bias_idxs', torch.LongTensor(rel_pos))

    def get_attention_biases(self, device):
        # timm caches this in eval mode outside tracing; when tracing (ONNX export) it indexes.
        return self.attention_biases[:, self.attention_bias_idxs]

    def forward(self, x):  # x (B,N,C)
        B, N, C = x.shape
        qkv = self.qkv(x)
        qkv = qkv.reshape(B, N, self.num_heads, -1).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.val_dim], dim=3)

        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn + self.get_attention_biases(x.device)

        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, self.val_attn_dim)
        x = self.proj(x)
        return x


class Stem4(nn.Sequential):
    def __init__(self, in_chs, out_chs, act_layer=nn.ReLU, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.stride = 4
        self.add_module('conv1', nn.Conv2d(in_chs, out_chs // 2, kernel_size=3, stride=2, padding=1))
        self.add_module('norm1', norm_layer(out_chs // 2))
        self.add_module('act1', act_layer())
        self.add_module('conv2', nn.Conv2d(out_chs // 2, out_chs, kernel_size=3, stride=2, padding=1))
        self.add_module('norm2', norm_layer(out_chs))
        self.add_module('act2', act_layer())


class Downsample(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size=3, stride=2, padding=None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size=kernel_size, stride=stride, padding=padding)
        self.norm = norm_layer(out_chs)

    def forward(self, x):
        x = self.conv(x)
        x = self.norm(x)
        return x


class Flat(nn.Module):
    def forward(self, x):
        x = x.flatten(2).transpose(1, 2)
        return x


class Pooling(nn.Module):
    def __init__(self, pool_size=3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class ConvMlpWithNorm(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU,
                 norm_layer=nn.BatchNorm2d):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.norm1 = norm_layer(hidden_features) if norm_layer is not None else nn.Identity()
        self.act = act_layer()
        self.fc2 = nn.Conv2d(hidden_features, out_features, 1)
        self.norm2 = norm_layer(out_features) if norm_layer is not None else nn.Identity()

    def forward(self, x):
        x = self.fc1(x)
        x = self.norm1(x)
        x = self.act(x)
        x = self.fc2(x)
        x = self.norm2(x)
        return x


class Mlp(nn.Module):
    """timm.layers.Mlp with its defaults (norm_layer=None -> Identity, drop=0)."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        x = self.fc1(x)
        x = self.act(x)
        x = self.fc2(x)
        return x


class LayerScale(nn.Module):
    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class LayerScale2d(nn.Module):
    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        gamma = self.gamma.view(1, -1, 1, 1)
        return x * gamma


class MetaBlock1d(nn.Module):
    def __init__(self, dim, mlp_ratio=4., act_layer=nn.GELU, norm_layer=nn.LayerNorm,
                 layer_scale_init_value=1e-5, attn_kwargs=None):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.token_mixer = Attention(dim, **(attn_kwargs or {}))
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer)
        self.ls1 = LayerScale(dim, layer_scale_init_value)
        self.ls2 = LayerScale(dim, layer_scale_init_value)

    def forward(self, x):
        x = x + self.ls1(self.token_mixer(self.norm1(x)))
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x


class MetaBlock2d(nn.Module):
    def __init__(self, dim, pool_size=3, mlp_ratio=4., act_layer=nn.GELU, norm_layer=nn.BatchNorm2d,
                 layer_scale_init_value=1e-5):
        super().__init__()
        self.token_mixer = Pooling(pool_size=pool_size)
        self.ls1 = LayerScale2d(dim, layer_scale_init_value)
        self.mlp = ConvMlpWithNorm(dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer,
                                   norm_layer=norm_layer)
        self.ls2 = LayerScale2d(dim, layer_scale_init_value)

    def forward(self, x):
        x = x + self.ls1(self.token_mixer(x))
        x = x + self.ls2(self.mlp(x))
        return x


class EfficientFormerStage(nn.Module):
    def __init__(self, dim, dim_out, depth, downsample=True, num_vit=1, pool_size=3, mlp_ratio=4.,
                 act_layer=nn.GELU, norm_layer=nn.BatchNorm2d, norm_layer_cl=nn.LayerNorm,
                 layer_scale_init_value=1e-5, attn_kwargs=None):
        super().__init__()
        if downsample:
            self.downsample = Downsample(in_chs=dim, out_chs=dim_out, norm_layer=norm_layer)
            dim = dim_out
        else:
            assert dim == dim_out
            self.downsample = nn.Identity()

        blocks = []
        if num_vit and num_vit >= depth:
            blocks.append(Flat())
        for block_idx in range(depth):
            remain_idx = depth - block_idx - 1
            if num_vit and num_vit > remain_idx:
                blocks.append(MetaBlock1d(dim, mlp_ratio=mlp_ratio, act_layer=act_layer,
                                          norm_layer=norm_layer_cl,
                                          layer_scale_init_value=layer_scale_init_value,
                                          attn_kwargs=attn_kwargs))
            else:
                blocks.append(MetaBlock2d(dim, pool_size=pool_size, mlp_ratio=mlp_ratio,
                                          act_layer=act_layer, norm_layer=norm_layer,
                                          layer_scale_init_value=layer_scale_init_value))
                if num_vit and num_vit == remain_idx:
                    blocks.append(Flat())
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        x = self.downsample(x)
        x = self.blocks(x)
        return x


class EfficientFormer(nn.Module):
    def __init__(self, depths, embed_dims=None, in_chans=3, num_classes=1000, global_pool='avg',
                 downsamples=None, num_vit=0, mlp_ratios=4, pool_size=3, layer_scale_init_value=1e-5,
                 act_layer=nn.GELU, norm_layer=nn.BatchNorm2d, norm_layer_cl=nn.LayerNorm,
                 attn_kwargs=None):
        super().__init__()
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.stem = Stem4(in_chans, embed_dims[0], norm_layer=norm_layer)
        prev_dim = embed_dims[0]
        downsamples = downsamples or (False,) + (True,) * (len(depths) - 1)
        stages = []
        for i in range(len(depths)):
            stages.append(EfficientFormerStage(
                prev_dim, embed_dims[i], depths[i], downsample=downsamples[i],
                num_vit=num_vit if i == 3 else 0, pool_size=pool_size, mlp_ratio=mlp_ratios,
                act_layer=act_layer, norm_layer_cl=norm_layer_cl, norm_layer=norm_layer,
                layer_scale_init_value=layer_scale_init_value, attn_kwargs=attn_kwargs))
            prev_dim = embed_dims[i]
        self.stages = nn.Sequential(*stages)
        self.num_features = embed_dims[-1]
        self.norm = norm_layer_cl(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.head_dist = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)  # timm's trunc_normal_ (a=-2, b=2)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x):
        x = self.stem(x)
        x = self.stages(x)
        x = self.norm(x)
        return x

    def forward_head(self, x):
        if self.global_pool == 'avg':
            x = x.mean(dim=1)
        x, x_dist = self.head(x), self.head_dist(x)
        return (x + x_dist) / 2  # inference: average of classifier and distillation heads

    def forward(self, x):
        x = self.forward_features(x)
        x = self.forward_head(x)
        return x


# ------------------------------------------------------------------------------------------------
def build_model(cfg, fold_bn=False):
    """cfg: dict from resolve_config. fold_bn=True builds with BatchNorm replaced by Identity (the
    structure of an export whose BN was folded into the convolutions)."""
    attn_kwargs = dict(key_dim=cfg['key_dim'], num_heads=cfg['heads'], attn_ratio=cfg['attn_ratio'],
                       resolution=cfg['img_size'] // 32)
    norm_layer = (lambda c: nn.Identity()) if fold_bn else nn.BatchNorm2d
    return EfficientFormer(depths=cfg['depths'], embed_dims=cfg['widths'], num_classes=cfg['num_classes'],
                           num_vit=cfg['num_vit'], mlp_ratios=cfg['mlp_ratio'], norm_layer=norm_layer,
                           attn_kwargs=attn_kwargs)


def synthetic_images(n, size, seed):
    """Deterministic smooth 'photo-like' images, ImageNet-normalised, NCHW float32."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.zeros(n, 3, size, size)
    for scale in (2, 4, 8, 16):
        low = torch.rand(n, 3, scale, scale, generator=g)
        imgs += nn.functional.interpolate(low, size=(size, size), mode='bilinear', align_corners=False) / scale ** 0.5
    lum = torch.rand(n, 1, 1, 1, generator=g) * 0.6 + 0.2
    imgs = (imgs - imgs.mean(dim=(2, 3), keepdim=True)) * 0.6 + lum
    imgs += 0.03 * torch.randn(n, 3, size, size, generator=g)
    imgs = imgs.clamp(0, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((imgs - mean) / std).float()


class SeededDraws:
    """In-place random fills from one seeded generator (shared with gen_efficientformer_v2.py, whose
    weights follow the same recipe): the draw order decides every weight, so keep it stable."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, shape):
        return torch.randn(shape, generator=self.g)

    def normal_(self, t, std, mean=0.0):
        t.copy_(self.randn(t.shape) * std + mean)

    def uniform_(self, t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=self.g) * (hi - lo) + lo)

    def trunc_(self, t, std):
        t.copy_(self.randn(t.shape).clamp(-2, 2) * std)


@torch.no_grad()
def init_norm_or_linear(rnd, name, m):
    """The recipe's rule for norms and linear layers; False if `m` is neither."""
    if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
        rnd.uniform_(m.weight, 0.5, 1.5)
        rnd.normal_(m.bias, 0.1)
    elif isinstance(m, nn.Linear):
        fan_in = m.weight.shape[1]
        if name in ('head', 'head_dist'):
            rnd.trunc_(m.weight, 2.0 / math.sqrt(fan_in))
        else:
            rnd.trunc_(m.weight, 1.0 / math.sqrt(fan_in))
            rnd.normal_(m.bias, 0.05)
    else:
        return False
    return True


@torch.no_grad()
def finish_init(model, img_size, seed, rnd):
    """Classifier biases (head_dist.bias == head.bias), then BatchNorm running statistics measured on
    synthetic images (train mode, cumulative average over one batch == that batch's statistics, each
    BN seeing its already-normalised inputs) and perturbed a little so that eval-mode outputs are not
    exactly standardised. Leaves the model in eval mode."""
    if isinstance(model.head, nn.Linear):
        rnd.normal_(model.head.bias, 0.1)
        model.head_dist.bias.copy_(model.head.bias)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if bns:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model(synthetic_images(8, img_size, seed + 2))
        for m in bns:
            m.momentum = 0.1
            std = m.running_var.sqrt()
            m.running_mean += 0.1 * std * rnd.randn(m.running_mean.shape)
            m.running_var *= torch.exp(0.2 * rnd.randn(m.running_var.shape))
    model.eval()


@torch.no_grad()
def realistic_init(model, cfg, seed):
    rnd = SeededDraws(seed + 1)
    for name, m in model.named_modules():
        if init_norm_or_linear(rnd, name, m):
            continue
        if isinstance(m, (LayerScale, LayerScale2d)):
            rnd.uniform_(m.gamma, 0.2, 0.8)
        elif isinstance(m, Attention):
            rnd.normal_(m.attention_biases, 1.0)
    finish_init(model, cfg['img_size'], seed, rnd)


def _v1_branches(mod, x0):
    if isinstance(mod, MetaBlock2d):
        b1 = mod.ls1(mod.token_mixer(x0))
        x1 = x0 + b1
        b2 = mod.ls2(mod.mlp(x1))
    else:
        b1 = mod.ls1(mod.token_mixer(mod.norm1(x0)))
        x1 = x0 + b1
        b2 = mod.ls2(mod.mlp(mod.norm2(x1)))
    return [(b1, x0), (b2, x1)]


@torch.no_grad()
def branch_report(model, x, block_types=None, branches=_v1_branches):
    """Per block (modules of `block_types`): RMS(branch) / RMS(residual stream) for each
    (branch, stream) pair that `branches(block, block_input)` returns (blocks returning none are
    left out)."""
    block_types = block_types or (MetaBlock1d, MetaBlock2d)
    rows = []
    hooks = []
    rms = lambda t: t.pow(2).mean().sqrt().item()
    for name, m in model.named_modules():
        if isinstance(m, block_types):
            def hook(mod, inp, out, name=name):
                pairs = branches(mod, inp[0])
                if pairs:
                    rows.append((name,) + tuple(rms(b) / rms(s) for b, s in pairs))
            hooks.append(m.register_forward_hook(hook))
    out = model(x)
    for h in hooks:
        h.remove()
    return rows, out


def format_branch_rows(rows):
    return ', '.join('/'.join(f'{v:.2f}' for v in r[1:]) for r in rows)


# ------------------------------------------------------------------------------------------------
def resolve_config(a):
    arch = a.arch
    if arch in EfficientFormer_depth:
        cfg = dict(depths=list(EfficientFormer_depth[arch]), widths=list(EfficientFormer_width[arch]),
                   num_vit=EfficientFormer_num_vit[arch], img_size=224, num_classes=1000,
                   key_dim=32, heads=8)
    else:
        cfg = dict(depths=[1, 1, 2, 2], widths=[16, 24, 32, 48], num_vit=1, img_size=64,
                   num_classes=10, key_dim=8, heads=2)
    cfg.update(arch=arch, attn_ratio=4, mlp_ratio=4)
    if a.depths:
        cfg['depths'] = [int(v) for v in a.depths.split(',')]
    if a.widths:
        cfg['widths'] = [int(v) for v in a.widths.split(',')]
    for k in ('num_vit', 'img_size', 'num_classes', 'key_dim', 'heads', 'attn_ratio', 'mlp_ratio'):
        v = getattr(a, k)
        if v is not None:
            cfg[k] = v
    if len(cfg['depths']) != 4 or len(cfg['widths']) != 4:
        sys.exit('--depths and --widths need 4 values (stage 3 holds the attention blocks)')
    if cfg['img_size'] % 32:
        sys.exit('--img-size must be a multiple of 32 (the attention grid is img_size/32)')
    if cfg['num_vit'] < 1 or cfg['num_vit'] > cfg['depths'][3]:
        sys.exit('--num-vit must be in 1..depths[3]')
    return cfg


def export(model, cfg, path, opset, dynamic_batch):
    dummy = torch.randn(1, 3, cfg['img_size'], cfg['img_size'],
                        generator=torch.Generator().manual_seed(1234))
    kw = {}
    if dynamic_batch:
        kw['dynamic_axes'] = {'data': {0: 'batch'}, 'output': {0: 'batch'}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model.eval(), dummy, path, opset_version=opset, input_names=['data'],
                      output_names=['output'], **kw)


def op_histogram(path):
    import onnx
    m = onnx.load(path)
    return collections.Counter(n.op_type for n in m.graph.node)


# --- a small constant folder (what onnx-simplifier does to these graphs) ---------------------------
def fold_constants(src, dst):
    """Shape inference + constant folding with numpy: Constant nodes become initializers, Identity
    on initializers is aliased away, Shape of statically shaped tensors and every node whose inputs
    are all constant (Gather of the attention bias table, the Flat reshape's Slice/Concat, ...) is
    evaluated. Only the ops these exports need are implemented; others are left alone."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(src))
    g = m.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    shapes = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField('dim_value') for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]

    def attrs(n):
        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    def ev(n, ins):
        t, at = n.op_type, attrs(n)
        if t == 'Identity':
            return [ins[0]]
        if t == 'Gather':
            return [np.take(ins[0], ins[1], axis=at.get('axis', 0))]
        if t == 'Concat':
            return [np.concatenate(ins, axis=at['axis'])]
        if t == 'Unsqueeze':
            axes = at['axes'] if 'axes' in at else list(ins[1])
            r = ins[0]
            for ax in sorted(a % (r.ndim + len(axes)) for a in axes):
                r = np.expand_dims(r, ax)
            return [r]
        if t == 'Squeeze':
            axes = at.get('axes') if 'axes' in at else (list(ins[1]) if len(ins) > 1 else None)
            return [np.squeeze(ins[0], axis=tuple(axes) if axes is not None else None)]
        if t == 'Slice':
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 else np.arange(len(starts))
            steps = ins[4] if len(ins) > 4 else np.ones(len(starts), dtype=np.int64)
            sl = [slice(None)] * ins[0].ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                sl[int(a)] = slice(int(s), int(min(e, 2 ** 62)), int(st))
            return [ins[0][tuple(sl)]]
        if t == 'Reshape':
            shape = [int(v) for v in ins[1]]
            shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return [ins[0].reshape(shape)]
        if t == 'Transpose':
            return [np.transpose(ins[0], at.get('perm'))]
        if t == 'Cast':
            to = helper.tensor_dtype_to_np_dtype(at['to']) if hasattr(helper, 'tensor_dtype_to_np_dtype') \
                else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[at['to']]
            return [ins[0].astype(to)]
        binops = {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply}
        if t in binops:
            return [binops[t](ins[0], ins[1]).astype(ins[0].dtype)]
        if t == 'Div':
            r = ins[0] / ins[1] if ins[0].dtype.kind == 'f' else ins[0] // ins[1]
            return [r.astype(ins[0].dtype)]
        return None

    keep = []
    for n in g.node:
        if n.op_type == 'Constant':
            consts[n.output[0]] = numpy_helper.to_array(attrs(n)['value'])
            continue
        if n.op_type == 'Shape' and n.input[0] in shapes:
            consts[n.output[0]] = np.array(shapes[n.input[0]], dtype=np.int64)
            continue
        if all((i in consts) for i in n.input if i):
            r = ev(n, [consts[i] for i in n.input if i])
            if r is not None:
                for o, v in zip(n.output, r):
                    consts[o] = np.asarray(v)
                continue
        keep.append(n)
    graph_outputs = {o.name for o in g.output}
    used = {i for n in keep for i in n.input} | graph_outputs
    inits = [numpy_helper.from_array(consts[k], k) for k in consts if k in used]
    for k in graph_outputs:
        if k in consts:
            raise RuntimeError('graph output folded to a constant')
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    m = shape_inference.infer_shapes(m)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


# --- ONNX Runtime through onnxruntime-node -------------------------------------------------------
def ort_run(model_path, in_path, out_path):
    cmd = ['node', os.path.join(REPO, 'scripts', 'ort_run.mjs'), model_path, '--input',
           f'data={in_path}', '--output', out_path, '--threads', '1', '--quiet']
    subprocess.run(cmd, check=True)


# --- validation against the shared timm export ---------------------------------------------------
@torch.no_grad()
def validate(shared_dir):
    import onnx
    from onnx import numpy_helper

    onnx_path = os.path.join(shared_dir, 'models', 'efficientformer_l1.op11.onnx')
    gold = os.path.join(shared_dir, 'golden', 'efficientformer_l1')
    m = onnx.load(onnx_path)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:  # exporter-deduplicated parameters: Identity(initializer) -> param name
        if n.op_type == 'Identity' and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]

    cfg = resolve_config(argparse.Namespace(arch='l1', depths=None, widths=None, num_vit=None, img_size=None,
                                            num_classes=None, key_dim=None, heads=None, attn_ratio=None,
                                            mlp_ratio=None))
    model = build_model(cfg, fold_bn=True).eval()

    # Execution order of our convs / LayerScale2d / Linear modules.
    order = collections.defaultdict(list)
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, LayerScale2d, nn.Linear)):
            hooks.append(mod.register_forward_hook(
                lambda mm, i, o, name=name: order[type(mm).__name__].append(name)))
    model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    mods = dict(model.named_modules())

    # The export's anonymous initializers in node order.
    conv_w, mul_c, matmul_w = [], [], []
    for n in g.node:
        if n.op_type == 'Conv':
            conv_w.append((n.input[1], n.input[2]))
        elif n.op_type == 'Mul':
            c = [i for i in n.input if i.startswith('onnx::Mul_')]
            if c:
                mul_c.append(c[0])
        elif n.op_type == 'MatMul':
            c = [i for i in n.input if i.startswith('onnx::MatMul_')]
            if c:
                matmul_w.append(c[0])
    linears_mm = [nm for nm in order['Linear'] if nm not in ('head', 'head_dist')]
    assert len(conv_w) == len(order['Conv2d']), (len(conv_w), len(order['Conv2d']))
    assert len(mul_c) == len(order['LayerScale2d'])
    assert len(matmul_w) == len(linears_mm)

    sd = model.state_dict()
    new = {}
    for (w, b), name in zip(conv_w, order['Conv2d']):
        new[name + '.weight'] = inits[w]
        new[name + '.bias'] = inits[b]
    for c, name in zip(mul_c, order['LayerScale2d']):
        new[name + '.gamma'] = inits[c].reshape(-1)
    for c, name in zip(matmul_w, linears_mm):
        new[name + '.weight'] = inits[c].T
    for k in sd:
        if k in inits:
            new[k] = inits[k]
    missing = [k for k in sd if k not in new]
    bad = [k for k in new if tuple(new[k].shape) != tuple(sd[k].shape)]
    if missing or bad:
        sys.exit(f'weight mapping failed: missing {missing}, shape mismatch {bad}')
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=v.dtype, copy=True)) for k, v in new.items()})
    n_params = sum(int(np.prod(v.shape)) for v in new.values())
    print(f'loaded {len(new)} tensors ({n_params} elements) from {onnx_path}')
    print(f'  ONNX initializers: {len(g.initializer)}, '
          f'{sum(int(np.prod(i.dims)) for i in g.initializer)} elements')

    worst = 0.0
    for f in sorted(os.listdir(gold)):
        if not f.startswith('input_'):
            continue
        tag = f[len('input_'):-len('.npy')]
        x = torch.from_numpy(np.load(os.path.join(gold, f)))
        y = model(x).numpy()
        ref = np.load(os.path.join(gold, f'torch_{tag}.npy'))
        ort = np.load(os.path.join(gold, f'ort_{tag}.npy'))
        d = float(np.abs(y - ref).max())
        worst = max(worst, d)
        print(f'  {tag:12s} max|ours - torch golden| = {d:.3g}   max|ours - ort golden| = '
              f'{float(np.abs(y - ort).max()):.3g}   argmax ours/golden {y.argmax()}/{ref.argmax()}   '
              f'|logits|max {float(np.abs(ref).max()):.3g}')
    print(f'worst max abs diff vs PyTorch golden: {worst:.3g}')

    # Structure: export our own l1 (with BatchNorm, folded by the exporter) and compare.
    import tempfile
    full = build_model(cfg).eval()
    realistic_init(full, cfg, 0)
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, 'l1.onnx')
        torch.onnx.export(full, torch.randn(1, 3, 224, 224), p, opset_version=11,
                          input_names=['data'], output_names=['output'])
        ours = onnx.load(p)
    # The exporter deduplicates initializers with equal values into Identity nodes: the shared
    # file's zero biases give two (head_dist.bias = head.bias, mlp.fc2.bias = proj.bias); our
    # random biases give one (head_dist.bias = head.bias by construction). Compare modulo those.
    def nodes(mm):
        return [n for n in mm.graph.node if n.op_type != 'Identity']
    seq_a = [n.op_type for n in nodes(m)]
    seq_b = [n.op_type for n in nodes(ours)]
    print(f'op sequence (Identity nodes aside) of our l1 op11 export identical to the shared file: '
          f'{seq_a == seq_b} ({len(seq_b)} vs {len(seq_a)} nodes)')
    print(f'  op histogram: shared {dict(sorted(collections.Counter(n.op_type for n in g.node).items()))}')
    print(f'                ours   {dict(sorted(collections.Counter(n.op_type for n in ours.graph.node).items()))}')
    def sig(mm):
        out = []
        for n in nodes(mm):
            at = sorted((a.name, str(onnx.helper.get_attribute_value(a))) for a in n.attribute
                        if a.name != 'value')
            if n.op_type == 'Constant':  # compare constant values too (they hold shapes/scalars)
                v = numpy_helper.to_array(n.attribute[0].t)
                at.append(('value', str(v.dtype) + str(v.tolist())))
            out.append((n.op_type, n.name, at))
        return out
    print(f'  node names, attributes and Constant values identical: {sig(m) == sig(ours)}')
    ident_a = sorted((n.input[0], n.output[0]) for n in g.node if n.op_type == 'Identity')
    ident_b = sorted((n.input[0], n.output[0]) for n in ours.graph.node if n.op_type == 'Identity')
    print(f'  Identity nodes: shared {ident_a}; ours {ident_b}')
    shp = lambda mm: sorted((i.name, tuple(i.dims), i.data_type) for i in mm.graph.initializer)
    print(f'  initializer names/shapes/types identical: {shp(m) == shp(ours)}')
    if shp(m) != shp(ours):
        print(f'    only in shared: {sorted(set(shp(m)) - set(shp(ours)))}')
        print(f'    only in ours:   {sorted(set(shp(ours)) - set(shp(m)))}')
    return worst


# ------------------------------------------------------------------------------------------------
def add_output_args(p):
    """Flags shared with gen_efficientformer_v2.py: seeds, export and golden outputs."""
    p.add_argument('--seed', type=int, default=0, help='weight seed')
    p.add_argument('--opset', type=int, default=11, choices=range(11, 18), metavar='11..17')
    p.add_argument('--dynamic-batch', action='store_true', help='dynamic_axes batch on data/output')
    p.add_argument('--fold', action='store_true',
                   help='post-process with shape inference + constant folding (onnx-simplifier-like)')
    p.add_argument('--out', help='output .onnx path')
    p.add_argument('--data-dir', help='where to write in_K.npy/ort_K.npy (default: OUT without .onnx)')
    p.add_argument('--num-inputs', type=int, default=2, help='random batch-1 inputs to write')
    p.add_argument('--extra-batch', type=int, default=0,
                   help='also write one input of this batch size (needs --dynamic-batch)')
    p.add_argument('--input-seed', type=int, default=100, help='seed of the random inputs')
    p.add_argument('--no-ort', action='store_true', help='do not run ONNX Runtime')


def check_output_args(p, a):
    if not a.out:
        p.error('--out is required')
    if a.extra_batch and not a.dynamic_batch:
        p.error('--extra-batch needs --dynamic-batch')


def export_with_goldens(model, cfg, a, report):
    """Exports `model` (eval mode, initialised) to a.out, prints its op histogram and `report()`
    (one line about the weights), then writes the random inputs, PyTorch and ONNX Runtime outputs
    and config.json into the data folder."""
    n_params = sum(t.numel() for t in model.state_dict().values())
    print(f'{a.out}: {json.dumps(cfg)}  ({n_params} state elements)')

    out = a.out
    raw = out + '.raw.onnx' if a.fold else out
    export(model, cfg, raw, a.opset, a.dynamic_batch)
    if a.fold:
        fold_constants(raw, out)
        os.remove(raw)
    hist = op_histogram(out)
    print('  ops:', dict(sorted(hist.items())))
    print('  ' + report())

    if a.num_inputs <= 0 and not a.extra_batch:
        return
    ddir = a.data_dir or os.path.splitext(out)[0]
    os.makedirs(ddir, exist_ok=True)
    batches = [1] * a.num_inputs + ([a.extra_batch] if a.extra_batch else [])
    gen = torch.Generator().manual_seed(a.input_seed)
    meta = dict(cfg, opset=a.opset, dynamic_batch=a.dynamic_batch, folded=a.fold, seed=a.seed,
                input_seed=a.input_seed, inputs={}, ops=dict(sorted(hist.items())))
    for k, b in enumerate(batches):
        x = torch.randn(b, 3, cfg['img_size'], cfg['img_size'], generator=gen)
        with torch.no_grad():
            y = model(x).numpy().astype(np.float32)
        ip = os.path.join(ddir, f'in_{k}.npy')
        np.save(ip, x.numpy().astype(np.float32))
        np.save(os.path.join(ddir, f'torch_{k}.npy'), y)
        line = f'  in_{k} {list(x.shape)}'
        if not a.no_ort:
            op = os.path.join(ddir, f'ort_{k}.npy')
            ort_run(out, ip, op)
            o = np.load(op)
            d = float(np.abs(o - y).max())
            line += f'  max|ort - torch| = {d:.3g} (|logits| max {float(np.abs(y).max()):.3g})'
            if d > 1e-3 * max(1.0, float(np.abs(y).max())):
                sys.exit(f'ONNX Runtime disagrees with PyTorch on {ip}: {d}')
            meta['inputs'][f'in_{k}'] = dict(shape=list(x.shape), max_abs_ort_minus_torch=d)
        else:
            meta['inputs'][f'in_{k}'] = dict(shape=list(x.shape))
        print(line)
    with open(os.path.join(ddir, 'config.json'), 'w') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write('\n')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='custom', choices=['l1', 'l3', 'l7', 'custom'],
                   help='preset (custom = tiny defaults: depths 1,1,2,2 widths 16,24,32,48 num_vit 1 img 64 '
                        '10 classes key_dim 8 heads 2); the flags below override it')
    p.add_argument('--depths', help='4 comma-separated stage depths')
    p.add_argument('--widths', help='4 comma-separated stage widths')
    p.add_argument('--num-vit', type=int, help='attention (MetaBlock1d) blocks at the end of stage 3')
    p.add_argument('--img-size', type=int, help='input size (square, multiple of 32)')
    p.add_argument('--num-classes', type=int)
    p.add_argument('--key-dim', type=int, help='attention key dim (timm: 32)')
    p.add_argument('--heads', type=int, help='attention heads (timm: 8)')
    p.add_argument('--attn-ratio', type=int, help='value dim / key dim (timm: 4)')
    p.add_argument('--mlp-ratio', type=int, help='MLP hidden / dim (timm: 4)')
    add_output_args(p)
    p.add_argument('--validate', metavar='SHARED_DIR',
                   help='check the re-implementation against SHARED_DIR/models/efficientformer_l1.op11.onnx '
                        'and its golden logits, then exit')
    a = p.parse_args()

    if a.validate:
        worst = validate(a.validate)
        sys.exit(0 if worst < 1e-3 else 1)
    check_output_args(p, a)

    torch.manual_seed(a.seed)
    cfg = resolve_config(a)
    model = build_model(cfg)
    realistic_init(model, cfg, a.seed)

    def report():
        rows, _ = branch_report(model, synthetic_images(2, cfg['img_size'], a.seed + 3))
        return 'branch/stream RMS per block: ' + format_branch_rows(rows)

    export_with_goldens(model, cfg, a, report)


if __name__ == '__main__':
    main()
