#!/usr/bin/python3
"""Generate EfficientFormerV2 ONNX test models the way timm users export them.

A self-contained PyTorch re-implementation of timm's `timm/models/efficientformer_v2.py` (same module
tree and parameter names, so a timm state_dict loads; same forward op order, so the same
torch.onnx export), with random but realistic, seeded weights. Everything that is not
V2-specific (weight recipe primitives, export, ONNX Runtime goldens, flags) comes from
scripts/gen_efficientformer.py (V1), which this script imports.

Needs /usr/bin/python3 with torch 1.13, onnx and numpy (timm is not needed), and node +
`npm install --ignore-scripts` in the repository root for the ONNX Runtime outputs.

Examples:
  # timm efficientformerv2_s0 at 224, opset 11, no test data
  /usr/bin/python3 scripts/gen_efficientformer_v2.py --arch s0 --out /tmp/v2_s0.onnx --num-inputs 0
  # the tiny V2 with every block type, 2 random inputs and their ORT outputs in tests/models/tiny_v2_op11/
  /usr/bin/python3 scripts/gen_efficientformer_v2.py --arch custom --opset 11 --out tests/models/tiny_v2_op11.onnx

The network (timm's EfficientFormerV2, all BatchNorm eps 1e-5, GELU as erf):
  stem      conv3x3 s2 + BN + GELU, twice (stride 4)
  stage i   [i > 0: Downsample: conv3x3 s2 + BN; in stage 3 plus Attention2dDownsample(x), added]
            then `depth` EfficientFormerV2Blocks: in stages 2 and 3 the last `num_vit` of them start
            with x + ls1 * Attention2d(x) (stage 2: its stride-2 variant, a depthwise conv3x3 s2 + BN
            before and a bilinear x2 Upsample -> Resize after); every block ends with
            x + ls2 * ConvMlp(x) (1x1 conv + BN + GELU, depthwise 3x3 + BN + GELU, 1x1 conv + BN)
  head      BN (stays a BatchNormalization node: it follows an Add), mean over H,W,
            (head(x) + head_dist(x)) / 2
Differences from timm, all export-neutral: the attention sizes are flags (timm hard-codes
Attention2d key_dim 32 / 8 heads and Attention2dDownsample key_dim 16 / 8 heads, attn_ratio 4);
no Dropout / DropPath modules (p = 0 / Identity at inference); no eval-mode attention-bias cache
(timm indexes the table when tracing, as here).

Weights follow the V1 recipe (see gen_efficientformer.py; same seeds): BatchNorm affine U(0.5,1.5) /
N(0,0.1) and running statistics measured on synthetic images then perturbed; layer scales
U(0.2,0.8); attention bias tables N(0,1); heads N(0, 4/fan_in) with head_dist.bias == head.bias;
convolutions PyTorch's default init. V2 adds the talking-head 1x1 convs over the heads: identity +
N(0, 0.5/sqrt(heads)) with N(0,0.1) biases (PyTorch's default U(+-1/sqrt(heads)) would scale the
logits down by ~sqrt(3) before the softmax and flatten every head; near-identity keeps each head's
distribution sharp while the mixing still matters).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_efficientformer as v1  # noqa: E402  (shared helpers, see the docstring)

# timm's presets (efficientformerv2_s0/s1/s2/l).
EfficientFormer_width = {
    'l': (40, 80, 192, 384),
    's2': (32, 64, 144, 288),
    's1': (32, 48, 120, 224),
    's0': (32, 48, 96, 176),
}
EfficientFormer_depth = {
    'l': (5, 5, 15, 10),
    's2': (4, 4, 12, 8),
    's1': (3, 3, 9, 6),
    's0': (2, 2, 6, 4),
}
EfficientFormer_expansion_ratios = {
    'l': (4, 4, (4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4), (4, 4, 4, 3, 3, 3, 3, 4, 4, 4)),
    's2': (4, 4, (4, 4, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4), (4, 4, 3, 3, 3, 3, 4, 4)),
    's1': (4, 4, (4, 4, 3, 3, 3, 3, 4, 4, 4), (4, 4, 3, 3, 4, 4)),
    's0': (4, 4, (4, 3, 3, 3, 4, 4), (4, 3, 3, 4)),
}
EfficientFormer_num_vit = {'l': 6, 's2': 4, 's1': 2, 's0': 2}

# The tiny `custom` default: every block type at 64x64 in < 100 k parameters. Stage 2 (4x4 grid)
# has one ConvMlp block and one stride-2 attention block (2x2 tokens, Resize back to 4x4), stage 3
# an attention downsample (4x4 keys, 2x2 queries), one ConvMlp and one attention block; per-block
# MLP ratios 3 and 4 as in the real presets; 4 heads so that the talking heads mix more than a pair.
TINY = dict(depths=[1, 1, 2, 2], widths=[16, 24, 32, 48], num_vit=1, img_size=64, num_classes=10,
            key_dim=4, heads=4, ds_key_dim=4, ds_heads=2, attn_ratio=4, mlp_ratios='4/4/4,3/3,4')


def get_padding(kernel_size, stride=1, dilation=1):
    """timm's symmetric 'same'-ish padding (create_conv2d with padding='')."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


class BatchNormAct2d(nn.BatchNorm2d):
    """timm.layers.BatchNormAct2d: BN then (drop, act) as submodules of the norm, so the state_dict
    keys stay `bn.weight`, `bn.running_mean`, ..."""

    def __init__(self, num_features, eps=1e-5, act_layer=nn.GELU):
        super().__init__(num_features, eps=eps)
        self.drop = nn.Identity()
        self.act = act_layer()

    def forward(self, x):
        return self.act(self.drop(super().forward(x)))


def _conv(in_chs, out_chs, kernel_size, stride, groups):
    return nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride,
                     padding=get_padding(kernel_size, stride), groups=groups, bias=True)


class ConvNorm(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, groups=1):
        super().__init__()
        self.conv = _conv(in_channels, out_channels, kernel_size, stride, groups)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class ConvNormAct(ConvNorm):
    """timm.layers.ConvNormAct (conv + BatchNormAct2d), bias=True as EfficientFormerV2 uses it."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, groups=1, act_layer=nn.GELU):
        super().__init__(in_channels, out_channels, kernel_size, stride, groups)
        self.bn = BatchNormAct2d(out_channels, act_layer=act_layer)


def _relative_bias_idxs(q_pos, k_pos, width):
    rel = (q_pos[..., :, None] - k_pos[..., None, :]).abs()
    return rel[0] * width + rel[1]


def _grid(rows, cols, step=1):
    return torch.stack(torch.meshgrid(torch.arange(0, rows, step), torch.arange(0, cols, step),
                                      indexing='ij')).flatten(1)


class Attention2d(nn.Module):
    def __init__(self, dim=384, key_dim=32, num_heads=8, attn_ratio=4, resolution=7, act_layer=nn.GELU,
                 stride=None):
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim ** -0.5
        self.key_dim = key_dim
        resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        if stride is not None:
            resolution = tuple(math.ceil(r / stride) for r in resolution)
            self.stride_conv = ConvNorm(dim, dim, kernel_size=3, stride=stride, groups=dim)
            self.upsample = nn.Upsample(scale_factor=stride, mode='bilinear')
        else:
            self.stride_conv = None
            self.upsample = None
        self.resolution = resolution
        self.N = resolution[0] * resolution[1]
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        self.attn_ratio = attn_ratio
        kh = key_dim * num_heads

        self.q = ConvNorm(dim, kh)
        self.k = ConvNorm(dim, kh)
        self.v = ConvNorm(dim, self.dh)
        self.v_local = ConvNorm(self.dh, self.dh, kernel_size=3, groups=self.dh)
        self.talking_head1 = nn.Conv2d(num_heads, num_heads, kernel_size=1)
        self.talking_head2 = nn.Conv2d(num_heads, num_heads, kernel_size=1)
        self.act = act_layer()
        self.proj = ConvNorm(self.dh, dim, 1)

        pos = _grid(*resolution)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, self.N))
        self.register_buffer('attention_bias_idxs', _relative_bias_idxs(pos, pos, resolution[1]),
                             persistent=False)

    def forward(self, x):
        B, C, H, W = x.shape
        if self.stride_conv is not None:
            x = self.stride_conv(x)

        q = self.q(x).reshape(B, self.num_heads, -1, self.N).permute(0, 1, 3, 2)
        k = self.k(x).reshape(B, self.num_heads, -1, self.N).permute(0, 1, 2, 3)
        v = self.v(x)
        v_local = self.v_local(v)
        v = v.reshape(B, self.num_heads, -1, self.N).permute(0, 1, 3, 2)

        attn = (q @ k) * self.scale
        attn = attn + self.attention_biases[:, self.attention_bias_idxs]
        attn = self.talking_head1(attn)
        attn = attn.softmax(dim=-1)
        attn = self.talking_head2(attn)

        x = (attn @ v).transpose(2, 3)
        x = x.reshape(B, self.dh, self.resolution[0], self.resolution[1]) + v_local
        if self.upsample is not None:
            x = self.upsample(x)
        x = self.act(x)
        x = self.proj(x)
        return x


class LocalGlobalQuery(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.pool = nn.AvgPool2d(1, 2, 0)
        self.local = nn.Conv2d(in_dim, in_dim, kernel_size=3, stride=2, padding=1, groups=in_dim)
        self.proj = ConvNorm(in_dim, out_dim, 1)

    def forward(self, x):
        local_q = self.local(x)
        pool_q = self.pool(x)
        return self.proj(local_q + pool_q)


class Attention2dDownsample(nn.Module):
    def __init__(self, dim=384, key_dim=16, num_heads=8, attn_ratio=4, resolution=7, out_dim=None,
                 act_layer=nn.GELU):
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim ** -0.5
        self.key_dim = key_dim
        self.resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        self.resolution2 = tuple(math.ceil(r / 2) for r in self.resolution)
        self.N = self.resolution[0] * self.resolution[1]
        self.N2 = self.resolution2[0] * self.resolution2[1]
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        self.attn_ratio = attn_ratio
        self.out_dim = out_dim or dim
        kh = key_dim * num_heads

        self.q = LocalGlobalQuery(dim, kh)
        self.k = ConvNorm(dim, kh, 1)
        self.v = ConvNorm(dim, self.dh, 1)
        self.v_local = ConvNorm(self.dh, self.dh, kernel_size=3, stride=2, groups=self.dh)
        self.act = act_layer()
        self.proj = ConvNorm(self.dh, self.out_dim, 1)

        self.attention_biases = nn.Parameter(torch.zeros(num_heads, self.N))
        # timm builds the key grid from resolution[1] twice (the same for the square inputs here).
        r = self.resolution[1]
        k_pos = _grid(r, r)
        q_pos = _grid(self.resolution[0], self.resolution[1], step=2)
        self.register_buffer('attention_bias_idxs', _relative_bias_idxs(q_pos, k_pos, r),
                             persistent=False)

    def forward(self, x):
        B, C, H, W = x.shape
        q = self.q(x).reshape(B, self.num_heads, -1, self.N2).permute(0, 1, 3, 2)
        k = self.k(x).reshape(B, self.num_heads, -1, self.N).permute(0, 1, 2, 3)
        v = self.v(x)
        v_local = self.v_local(v)
        v = v.reshape(B, self.num_heads, -1, self.N).permute(0, 1, 3, 2)

        attn = (q @ k) * self.scale
        attn = attn + self.attention_biases[:, self.attention_bias_idxs]
        attn = attn.softmax(dim=-1)

        x = (attn @ v).transpose(2, 3)
        x = x.reshape(B, self.dh, self.resolution2[0], self.resolution2[1]) + v_local
        x = self.act(x)
        x = self.proj(x)
        return x


class Downsample(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size=3, stride=2, resolution=7, use_attn=False,
                 act_layer=nn.GELU, attn_kwargs=None):
        super().__init__()
        self.conv = ConvNorm(in_chs, out_chs, kernel_size=kernel_size, stride=stride)
        if use_attn:
            self.attn = Attention2dDownsample(dim=in_chs, out_dim=out_chs, resolution=resolution,
                                              act_layer=act_layer, **(attn_kwargs or {}))
        else:
            self.attn = None

    def forward(self, x):
        out = self.conv(x)
        if self.attn is not None:
            return self.attn(x) + out
        return out


class ConvMlpWithNorm(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU,
                 mid_conv=False):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = ConvNormAct(in_features, hidden_features, 1, act_layer=act_layer)
        if mid_conv:
            self.mid = ConvNormAct(hidden_features, hidden_features, 3, groups=hidden_features,
                                   act_layer=act_layer)
        else:
            self.mid = nn.Identity()
        self.fc2 = ConvNorm(hidden_features, out_features, 1)

    def forward(self, x):
        return self.fc2(self.mid(self.fc1(x)))


class EfficientFormerV2Block(nn.Module):
    def __init__(self, dim, mlp_ratio=4., act_layer=nn.GELU, layer_scale_init_value=1e-5, resolution=7,
                 stride=None, use_attn=True, attn_kwargs=None):
        super().__init__()
        if use_attn:
            self.token_mixer = Attention2d(dim, resolution=resolution, act_layer=act_layer, stride=stride,
                                           **(attn_kwargs or {}))
            self.ls1 = v1.LayerScale2d(dim, layer_scale_init_value)
        else:
            self.token_mixer = None
            self.ls1 = None
        self.mlp = ConvMlpWithNorm(dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer,
                                   mid_conv=True)
        self.ls2 = v1.LayerScale2d(dim, layer_scale_init_value)

    def forward(self, x):
        if self.token_mixer is not None:
            x = x + self.ls1(self.token_mixer(x))
        x = x + self.ls2(self.mlp(x))
        return x


class Stem4(nn.Sequential):
    def __init__(self, in_chs, out_chs, act_layer=nn.GELU):
        super().__init__()
        self.stride = 4
        self.conv1 = ConvNormAct(in_chs, out_chs // 2, kernel_size=3, stride=2, act_layer=act_layer)
        self.conv2 = ConvNormAct(out_chs // 2, out_chs, kernel_size=3, stride=2, act_layer=act_layer)


class EfficientFormerV2Stage(nn.Module):
    def __init__(self, dim, dim_out, depth, resolution=7, downsample=True, block_stride=None,
                 downsample_use_attn=False, block_use_attn=False, num_vit=1, mlp_ratio=4.,
                 layer_scale_init_value=1e-5, act_layer=nn.GELU, attn_kwargs=None, ds_attn_kwargs=None):
        super().__init__()
        mlp_ratio = tuple(mlp_ratio) if isinstance(mlp_ratio, (list, tuple)) else (mlp_ratio,) * depth
        resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        if downsample:
            self.downsample = Downsample(dim, dim_out, use_attn=downsample_use_attn, resolution=resolution,
                                         act_layer=act_layer, attn_kwargs=ds_attn_kwargs)
            dim = dim_out
            resolution = tuple(math.ceil(r / 2) for r in resolution)
        else:
            assert dim == dim_out
            self.downsample = nn.Identity()

        blocks = []
        remain_idx = depth - num_vit - 1
        for block_idx in range(depth):
            blocks.append(EfficientFormerV2Block(
                dim, resolution=resolution, stride=block_stride, mlp_ratio=mlp_ratio[block_idx],
                use_attn=block_use_attn and block_idx > remain_idx,
                layer_scale_init_value=layer_scale_init_value, act_layer=act_layer,
                attn_kwargs=attn_kwargs))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(self.downsample(x))


class EfficientFormerV2(nn.Module):
    def __init__(self, depths, in_chans=3, img_size=224, embed_dims=None, mlp_ratios=4, num_classes=1000,
                 layer_scale_init_value=1e-5, num_vit=0, act_layer=nn.GELU, attn_kwargs=None,
                 ds_attn_kwargs=None):
        super().__init__()
        self.num_classes = num_classes
        self.stem = Stem4(in_chans, embed_dims[0], act_layer=act_layer)
        prev_dim = embed_dims[0]
        stride = 4
        num_stages = len(depths)
        downsamples = (False,) + (True,) * (num_stages - 1)
        mlp_ratios = mlp_ratios if isinstance(mlp_ratios, (list, tuple)) else (mlp_ratios,) * num_stages
        stages = []
        for i in range(num_stages):
            curr_resolution = math.ceil(img_size / stride)
            stages.append(EfficientFormerV2Stage(
                prev_dim, embed_dims[i], depth=depths[i], resolution=curr_resolution,
                downsample=downsamples[i], block_stride=2 if i == 2 else None,
                downsample_use_attn=i >= 3, block_use_attn=i >= 2, num_vit=num_vit,
                mlp_ratio=mlp_ratios[i], layer_scale_init_value=layer_scale_init_value,
                act_layer=act_layer, attn_kwargs=attn_kwargs, ds_attn_kwargs=ds_attn_kwargs))
            if downsamples[i]:
                stride *= 2
            prev_dim = embed_dims[i]
        self.stages = nn.Sequential(*stages)

        self.num_features = embed_dims[-1]
        self.norm = nn.BatchNorm2d(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.head_dist = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x):
        return self.norm(self.stages(self.stem(x)))

    def forward_head(self, x):
        x = x.mean(dim=(2, 3))
        x, x_dist = self.head(x), self.head_dist(x)
        return (x + x_dist) / 2  # inference: average of classifier and distillation heads

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ------------------------------------------------------------------------------------------------
def build_model(cfg):
    attn = dict(key_dim=cfg['key_dim'], num_heads=cfg['heads'], attn_ratio=cfg['attn_ratio'])
    ds_attn = dict(key_dim=cfg['ds_key_dim'], num_heads=cfg['ds_heads'], attn_ratio=cfg['attn_ratio'])
    return EfficientFormerV2(depths=cfg['depths'], img_size=cfg['img_size'], embed_dims=cfg['widths'],
                             mlp_ratios=cfg['mlp_ratios'], num_classes=cfg['num_classes'],
                             num_vit=cfg['num_vit'], attn_kwargs=attn, ds_attn_kwargs=ds_attn)


@torch.no_grad()
def realistic_init(model, cfg, seed):
    rnd = v1.SeededDraws(seed + 1)
    for name, m in model.named_modules():
        if v1.init_norm_or_linear(rnd, name, m):
            continue
        if isinstance(m, v1.LayerScale2d):
            rnd.uniform_(m.gamma, 0.2, 0.8)
        elif isinstance(m, (Attention2d, Attention2dDownsample)):
            rnd.normal_(m.attention_biases, 1.0)
            if isinstance(m, Attention2d):
                h = m.num_heads
                for th in (m.talking_head1, m.talking_head2):
                    rnd.normal_(th.weight, 0.5 / math.sqrt(h))
                    th.weight += torch.eye(h).view(h, h, 1, 1)
                    rnd.normal_(th.bias, 0.1)
    v1.finish_init(model, cfg['img_size'], seed, rnd)


def _v2_branches(mod, x0):
    if isinstance(mod, Downsample):  # the attention branch against the conv path it is added to
        return [(mod.attn(x0), mod.conv(x0))] if mod.attn is not None else []
    pairs, x = [], x0
    if mod.token_mixer is not None:
        b = mod.ls1(mod.token_mixer(x))
        pairs.append((b, x))
        x = x + b
    pairs.append((mod.ls2(mod.mlp(x)), x))
    return pairs


def parse_mlp_ratios(spec, depths):
    """'4/4/4,3/3,4': per stage (separated by '/') one ratio, or one per block (separated by ',')."""
    stages = spec.split('/')
    if len(stages) != len(depths):
        sys.exit(f'--mlp-ratios: {len(stages)} stages given, {len(depths)} expected')
    out = []
    for s, d in zip(stages, depths):
        r = [float(v) if '.' in v else int(v) for v in s.split(',')]
        if len(r) == 1:
            r = r * d
        if len(r) != d or any(v <= 0 for v in r):
            sys.exit(f'--mlp-ratios: stage "{s}" needs 1 or {d} positive ratios')
        out.append(r)
    return out


def resolve_config(a):
    arch = a.arch
    if arch in EfficientFormer_depth:
        ratios = '/'.join(str(r) if isinstance(r, int) else ','.join(map(str, r))
                          for r in EfficientFormer_expansion_ratios[arch])
        cfg = dict(depths=list(EfficientFormer_depth[arch]), widths=list(EfficientFormer_width[arch]),
                   num_vit=EfficientFormer_num_vit[arch], img_size=224, num_classes=1000, key_dim=32,
                   heads=8, ds_key_dim=16, ds_heads=8, attn_ratio=4, mlp_ratios=ratios)
    else:
        cfg = dict(TINY, depths=list(TINY['depths']), widths=list(TINY['widths']))
    cfg['arch'] = arch
    if a.depths:
        cfg['depths'] = [int(v) for v in a.depths.split(',')]
    if a.widths:
        cfg['widths'] = [int(v) for v in a.widths.split(',')]
    for k in ('num_vit', 'img_size', 'num_classes', 'key_dim', 'heads', 'ds_key_dim', 'ds_heads',
              'attn_ratio', 'mlp_ratios'):
        v = getattr(a, k)
        if v is not None:
            cfg[k] = v
    if len(cfg['depths']) != 4 or len(cfg['widths']) != 4:
        sys.exit('--depths and --widths need 4 values (stages 2 and 3 hold the attention blocks)')
    if min(cfg['depths']) < 1 or min(cfg['widths']) < 2:
        sys.exit('--depths must be >= 1 and --widths >= 2')
    # A stride-2 attention's grid ceil(S/16 / 2) upsampled x2 must give back S/16, and the stage-3
    # attention downsample's grid must match its conv's: both hold when S is a multiple of 32.
    if cfg['img_size'] < 32 or cfg['img_size'] % 32:
        sys.exit('--img-size must be a positive multiple of 32')
    if cfg['num_vit'] < 0:
        sys.exit('--num-vit must be >= 0')
    cfg['mlp_ratios'] = parse_mlp_ratios(cfg['mlp_ratios'], cfg['depths'])
    return cfg


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='custom', choices=['s0', 's1', 's2', 'l', 'custom'],
                   help='timm preset, or custom = the tiny model (depths 1,1,2,2 widths 16,24,32,48 num_vit 1 '
                        'img 64, 10 classes, key_dim 4 x 4 heads, downsample key_dim 4 x 2 heads, mlp ratios '
                        '4/4/4,3/3,4); the flags below override it')
    p.add_argument('--depths', help='4 comma-separated stage depths')
    p.add_argument('--widths', help='4 comma-separated stage widths')
    p.add_argument('--num-vit', type=int, help='attention blocks at the end of stages 2 and 3')
    p.add_argument('--img-size', type=int, help='input size (square, multiple of 32)')
    p.add_argument('--num-classes', type=int)
    p.add_argument('--key-dim', type=int, help='Attention2d key dim (timm: 32)')
    p.add_argument('--heads', type=int, help='Attention2d heads (timm: 8)')
    p.add_argument('--ds-key-dim', type=int, help='Attention2dDownsample key dim (timm: 16)')
    p.add_argument('--ds-heads', type=int, help='Attention2dDownsample heads (timm: 8)')
    p.add_argument('--attn-ratio', type=int, help='value dim / key dim (timm: 4)')
    p.add_argument('--mlp-ratios', help="MLP hidden / dim per stage ('/') or per block (','), "
                                        "e.g. 4/4/4,3/3,4")
    v1.add_output_args(p)
    a = p.parse_args()
    v1.check_output_args(p, a)

    torch.manual_seed(a.seed)
    cfg = resolve_config(a)
    model = build_model(cfg)
    realistic_init(model, cfg, a.seed)

    def report():
        rows, _ = v1.branch_report(model, v1.synthetic_images(2, cfg['img_size'], a.seed + 3),
                                   (EfficientFormerV2Block, Downsample), _v2_branches)
        return 'branch/stream RMS per block (attention downsample: attn/conv): ' + v1.format_branch_rows(rows)

    v1.export_with_goldens(model, cfg, a, report)


if __name__ == '__main__':
    main()
