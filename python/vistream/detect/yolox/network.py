"""YOLOX network: CSPDarknet backbone, PAFPN neck and decoupled head.

Written from the YOLOX paper / reference architecture. Attribute names mirror the
reference so that official checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .specs import MODEL_SPECS, canonical_name, resolve_num_classes

__all__ = ["YOLOXModel", "PAFPN", "DecoupledHead", "CSPDarknet", "MODEL_SPECS", "build_model",
           "canonical_name", "resolve_num_classes"]


def _activation(kind: str) -> nn.Module:
    table = {
        "silu": lambda: nn.SiLU(inplace=True),
        "relu": lambda: nn.ReLU(inplace=True),
        "lrelu": lambda: nn.LeakyReLU(0.1, inplace=True),
    }
    if kind not in table:
        raise ValueError(f"unknown activation {kind!r}; expected one of {sorted(table)}")
    return table[kind]()


class ConvBnAct(nn.Module):
    """Conv2d (no bias, 'same' padding) followed by BatchNorm and an activation."""

    def __init__(self, c_in: int, c_out: int, k: int, s: int, groups: int = 1, act: str = "silu"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = _activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SeparableConv(nn.Module):
    """Depthwise k x k conv then pointwise 1 x 1 conv, both with BN + activation."""

    def __init__(self, c_in: int, c_out: int, k: int, s: int = 1, act: str = "silu"):
        super().__init__()
        self.dconv = ConvBnAct(c_in, c_in, k, s, groups=c_in, act=act)
        self.pconv = ConvBnAct(c_in, c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def _conv_type(depthwise: bool):
    return SeparableConv if depthwise else ConvBnAct


class ResidualUnit(nn.Module):
    """1x1 reduce then 3x3 conv, with an identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 0.5,
                 depthwise: bool = False, act: str = "silu"):
        super().__init__()
        mid = int(c_out * expansion)
        self.conv1 = ConvBnAct(c_in, mid, 1, 1, act=act)
        self.conv2 = _conv_type(depthwise)(mid, c_out, 3, 1, act=act)
        self.residual = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.residual else out


class CSPBlock(nn.Module):
    """Cross-stage-partial block: two 1x1 branches, one through n residual units, then fuse."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True,
                 expansion: float = 0.5, depthwise: bool = False, act: str = "silu"):
        super().__init__()
        mid = int(c_out * expansion)
        self.conv1 = ConvBnAct(c_in, mid, 1, 1, act=act)
        self.conv2 = ConvBnAct(c_in, mid, 1, 1, act=act)
        self.conv3 = ConvBnAct(2 * mid, c_out, 1, 1, act=act)
        self.m = nn.Sequential(*(ResidualUnit(mid, mid, shortcut, 1.0, depthwise, act) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class SpatialPyramidPool(nn.Module):
    """Concatenate max-pools of several kernel sizes (stride 1) around a 1x1 bottleneck."""

    def __init__(self, c_in: int, c_out: int, kernels: Sequence[int] = (5, 9, 13), act: str = "silu"):
        super().__init__()
        mid = c_in // 2
        self.conv1 = ConvBnAct(c_in, mid, 1, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels)
        self.conv2 = ConvBnAct(mid * (len(kernels) + 1), c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        pooled = [x]
        pooled.extend(pool(x) for pool in self.m)
        return self.conv2(torch.cat(pooled, dim=1))


class SpaceToDepthStem(nn.Module):
    """Move each 2x2 pixel neighbourhood into channels (order: TL, BL, TR, BR), then conv."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, act: str = "silu"):
        super().__init__()
        self.conv = ConvBnAct(4 * c_in, c_out, k, s, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        even_rows, odd_rows = x[..., 0::2, :], x[..., 1::2, :]
        stacked = torch.cat(
            (even_rows[..., 0::2], odd_rows[..., 0::2], even_rows[..., 1::2], odd_rows[..., 1::2]), dim=1)
        return self.conv(stacked)


class CSPDarknet(nn.Module):
    """CSPDarknet backbone returning the stride 8/16/32 feature maps (dark3, dark4, dark5)."""

    def __init__(self, depth: float, width: float, depthwise: bool = False, act: str = "silu"):
        super().__init__()
        Conv = _conv_type(depthwise)
        ch = int(width * 64)
        n = max(round(depth * 3), 1)
        self.stem = SpaceToDepthStem(3, ch, k=3, act=act)

        def stage(c_in: int, c_out: int, repeats: int) -> nn.Sequential:
            return nn.Sequential(Conv(c_in, c_out, 3, 2, act=act),
                                 CSPBlock(c_out, c_out, n=repeats, depthwise=depthwise, act=act))

        self.dark2 = stage(ch, 2 * ch, n)
        self.dark3 = stage(2 * ch, 4 * ch, 3 * n)
        self.dark4 = stage(4 * ch, 8 * ch, 3 * n)
        self.dark5 = nn.Sequential(
            Conv(8 * ch, 16 * ch, 3, 2, act=act),
            SpatialPyramidPool(16 * ch, 16 * ch, act=act),
            CSPBlock(16 * ch, 16 * ch, n=n, shortcut=False, depthwise=depthwise, act=act),
        )

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return {"dark3": c3, "dark4": c4, "dark5": c5}


class PAFPN(nn.Module):
    """Top-down then bottom-up path aggregation over the three backbone levels."""

    def __init__(self, depth: float = 1.0, width: float = 1.0,
                 in_channels: Sequence[int] = (256, 512, 1024), depthwise: bool = False, act: str = "silu"):
        super().__init__()
        self.backbone = CSPDarknet(depth, width, depthwise=depthwise, act=act)
        Conv = _conv_type(depthwise)
        c3, c4, c5 = (int(c * width) for c in in_channels)
        n = round(3 * depth)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        # top-down
        self.lateral_conv0 = ConvBnAct(c5, c4, 1, 1, act=act)
        self.C3_p4 = CSPBlock(2 * c4, c4, n, False, depthwise=depthwise, act=act)
        self.reduce_conv1 = ConvBnAct(c4, c3, 1, 1, act=act)
        self.C3_p3 = CSPBlock(2 * c3, c3, n, False, depthwise=depthwise, act=act)
        # bottom-up
        self.bu_conv2 = Conv(c3, c3, 3, 2, act=act)
        self.C3_n3 = CSPBlock(2 * c3, c4, n, False, depthwise=depthwise, act=act)
        self.bu_conv1 = Conv(c4, c4, 3, 2, act=act)
        self.C3_n4 = CSPBlock(2 * c4, c5, n, False, depthwise=depthwise, act=act)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        s8, s16, s32 = feats["dark3"], feats["dark4"], feats["dark5"]

        top32 = self.lateral_conv0(s32)
        mid16 = self.C3_p4(torch.cat((self.upsample(top32), s16), dim=1))
        top16 = self.reduce_conv1(mid16)
        out8 = self.C3_p3(torch.cat((self.upsample(top16), s8), dim=1))

        out16 = self.C3_n3(torch.cat((self.bu_conv2(out8), top16), dim=1))
        out32 = self.C3_n4(torch.cat((self.bu_conv1(out16), top32), dim=1))
        return out8, out16, out32


class DecoupledHead(nn.Module):
    """Anchor-free head with separate classification and regression/objectness branches.

    In eval mode returns decoded predictions (B, A, 5 + num_classes):
    cx, cy, w, h in input pixels, objectness and per-class scores (sigmoid).
    """

    def __init__(self, num_classes: int, width: float = 1.0, strides: Sequence[int] = (8, 16, 32),
                 in_channels: Sequence[int] = (256, 512, 1024), act: str = "silu", depthwise: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.strides = list(strides)
        Conv = _conv_type(depthwise)
        hidden = int(256 * width)

        def tower() -> nn.Sequential:
            return nn.Sequential(Conv(hidden, hidden, 3, 1, act=act), Conv(hidden, hidden, 3, 1, act=act))

        # registration order matters only for state_dict key order (kept as in official checkpoints)
        self.cls_convs = nn.ModuleList(tower() for _ in in_channels)
        self.reg_convs = nn.ModuleList(tower() for _ in in_channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, num_classes, 1) for _ in in_channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in in_channels)
        self.obj_preds = nn.ModuleList(nn.Conv2d(hidden, 1, 1) for _ in in_channels)
        self.stems = nn.ModuleList(ConvBnAct(int(c * width), hidden, 1, 1, act=act) for c in in_channels)

    def init_prior_bias(self, prior: float = 0.01) -> None:
        value = -math.log((1.0 - prior) / prior)
        with torch.no_grad():
            for conv in list(self.cls_preds) + list(self.obj_preds):
                conv.bias.fill_(value)

    def raw_outputs(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Per level (B, 5 + C, H, W): box regression, objectness logit, class logits."""
        levels = []
        for i, feat in enumerate(feats):
            x = self.stems[i](feat)
            cls_feat = self.cls_convs[i](x)
            reg_feat = self.reg_convs[i](x)
            levels.append(torch.cat((self.reg_preds[i](reg_feat), self.obj_preds[i](reg_feat),
                                     self.cls_preds[i](cls_feat)), dim=1))
        return levels

    def decode(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        flat, offsets, scales = [], [], []
        for level, stride in zip(levels, self.strides):
            b, c, h, w = level.shape
            flat.append(level.reshape(b, c, h * w))
            ys, xs = torch.meshgrid(torch.arange(h, device=level.device),
                                    torch.arange(w, device=level.device), indexing="ij")
            offsets.append(torch.stack((xs, ys), dim=-1).reshape(h * w, 2))
            scales.append(torch.full((h * w, 1), float(stride), device=level.device))
        pred = torch.cat(flat, dim=2).permute(0, 2, 1)
        grid = torch.cat(offsets, dim=0).to(pred.dtype)
        stride = torch.cat(scales, dim=0).to(pred.dtype)
        xy = (pred[..., 0:2] + grid) * stride
        wh = torch.exp(pred[..., 2:4]) * stride
        return torch.cat((xy, wh, pred[..., 4:].sigmoid()), dim=-1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.decode(self.raw_outputs(feats))


class YOLOXModel(nn.Module):
    """``backbone`` (PAFPN with CSPDarknet inside) + ``head``; inference only."""

    def __init__(self, backbone: PAFPN, head: DecoupledHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_model(name: str = "yolox_s", num_classes: Optional[int] = None) -> YOLOXModel:
    """Build a randomly initialised YOLOX network (train mode, like the reference).

    ``num_classes`` defaults to the variant's (80, or 1 for the single-class ``*_mix_det`` ones,
    where 80 also means 1).
    """
    key = canonical_name(name)
    depth, width, depthwise, act, _, _ = MODEL_SPECS[key]
    num_classes = resolve_num_classes(key, num_classes)
    in_channels = (256, 512, 1024)
    model = YOLOXModel(
        PAFPN(depth, width, in_channels=in_channels, depthwise=depthwise, act=act),
        DecoupledHead(num_classes, width, in_channels=in_channels, act=act, depthwise=depthwise),
    )
    model.head.init_prior_bias(0.01)
    return model
