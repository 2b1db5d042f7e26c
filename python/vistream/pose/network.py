"""The networks of DeepLabCut 3.0's single-animal bottom-up models, rebuilt from ``pytorch_config.yaml``.

DeepLabCut builds its ResNet backbones with ``timm`` and its heads from its own registry. This module
rebuilds the supported subset with torch only (no timm, no deeplabcut), with the same module names,
so an exported state dict loads key for key:

- backbone ``ResNet`` with ``model_name`` resnet18/34/50/101/152, optionally ``_gn`` (GroupNorm with
  32 groups instead of BatchNorm, DeepLabCut's default ``resnet50_gn``), ``output_stride`` 8/16/32
  (the later stages dilate instead of striding, as timm does);
- head ``HeatmapHead``: transposed convolutions (ReLU between them), an optional final 1x1..kxk
  convolution, for the heatmaps and, optionally, the location-refinement maps.

The parity test (tests/test_pose_parity.py) checks the result against ``deeplabcut`` +
``deeplabcut-live`` with identical random weights.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..errors import CheckpointMismatchError

# (block kind, blocks per stage) of timm's ResNet variants that DeepLabCut configs name
_RESNET_LAYOUTS: Dict[str, Tuple[str, Tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}


def _norm(kind: str, channels: int) -> nn.Module:
    # timm's "groupnorm" layer: 32 groups, eps 1e-5, affine
    return nn.GroupNorm(32, channels) if kind == "group" else nn.BatchNorm2d(channels)


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: Optional[nn.Module],
                 first_dilation: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn1 = _norm(norm, planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = _norm(norm, planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.act2(x + shortcut)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: Optional[nn.Module],
                 first_dilation: int, dilation: int, norm: str) -> None:
        super().__init__()
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _norm(norm, planes)
        self.act1 = nn.ReLU(inplace=True)
        # timm dilates the 3x3 of a bottleneck by the dilation the stage had before this block
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn2 = _norm(norm, planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, outplanes, 1, bias=False)
        self.bn3 = _norm(norm, outplanes)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act3(x + shortcut)


class _ResNet(nn.Module):
    """timm's ResNet layout without the classifier (``forward`` = timm's ``forward_features``)."""

    def __init__(self, model_name: str, output_stride: int) -> None:
        super().__init__()
        base = model_name[:-3] if model_name.endswith("_gn") else model_name
        if base not in _RESNET_LAYOUTS:
            raise ValueError(f"unsupported DeepLabCut ResNet backbone {model_name!r} "
                             f"(supported: {', '.join(sorted(_RESNET_LAYOUTS))}, each also with _gn)")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"ResNet output_stride must be 8, 16 or 32, got {output_stride}")
        norm = "group" if model_name.endswith("_gn") else "batch"
        kind, repeats = _RESNET_LAYOUTS[base]
        block = _Bottleneck if kind == "bottleneck" else _BasicBlock
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = _norm(norm, 64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes, net_stride, dilation = 64, 4, 1
        prev_dilation = 1
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), repeats)):
            stride = 1 if stage == 0 else 2
            if net_stride >= output_stride:
                dilation *= stride
                stride = 1
            else:
                net_stride *= stride
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                    _norm(norm, planes * block.expansion))
            blocks: List[nn.Module] = []
            for index in range(count):
                blocks.append(block(inplanes, planes, stride if index == 0 else 1,
                                    downsample if index == 0 else None, prev_dilation, dilation, norm))
                prev_dilation = dilation
                inplanes = planes * block.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.num_features = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class _ResNetBackbone(nn.Module):
    # DeepLabCut wraps the timm model as ``backbone.model``: the wrapper keeps the key prefix
    def __init__(self, model_name: str, output_stride: int) -> None:
        super().__init__()
        self.model = _ResNet(model_name, output_stride)
        self.stride = output_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _DeconvModule(nn.Module):
    def __init__(self, channels: List[int], kernel_size: List[int], strides: List[int],
                 final_conv: Optional[Dict[str, int]] = None) -> None:
        super().__init__()
        if not len(channels) == len(kernel_size) + 1 == len(strides) + 1:
            raise ValueError(f"HeatmapHead needs one more channel count than kernels and strides, got "
                             f"channels={channels}, kernel_size={kernel_size}, strides={strides}")
        self.stride = 1
        self.deconv_layers: nn.Module = nn.Identity()
        if kernel_size:
            layers: List[nn.Module] = []
            in_channels = channels[0]
            for out_channels, kernel, stride in zip(channels[1:], kernel_size, strides):
                layers += [nn.ConvTranspose2d(in_channels, out_channels, kernel_size=kernel, stride=stride),
                           nn.ReLU()]
                in_channels = out_channels
                self.stride *= stride
            self.deconv_layers = nn.Sequential(*layers[:-1])  # no ReLU after the last layer
        self.final_conv: nn.Module = nn.Identity()
        if final_conv:
            self.final_conv = nn.Conv2d(channels[-1], final_conv["out_channels"], final_conv["kernel_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(self.deconv_layers(x))


class _HeatmapHead(nn.Module):
    def __init__(self, heatmap_config: Dict[str, Any], locref_config: Optional[Dict[str, Any]]) -> None:
        super().__init__()
        self.heatmap_head = _DeconvModule(**heatmap_config)
        self.locref_head = None if locref_config is None else _DeconvModule(**locref_config)
        if self.locref_head is not None and self.locref_head.stride != self.heatmap_head.stride:
            raise ValueError("HeatmapHead: heatmap and locref maps must have the same stride")
        self.stride = self.heatmap_head.stride


class DLCNetwork(nn.Module):
    """Backbone + the ``bodypart`` heatmap head; ``forward`` returns ``(heatmap, locref)`` logits.

    ``locref`` is an empty tensor when the head has no location refinement (ONNX exports keep two
    outputs either way).
    """

    def __init__(self, model_cfg: Dict[str, Any]) -> None:
        super().__init__()
        backbone_cfg = dict(model_cfg.get("backbone") or {})
        if backbone_cfg.get("type") != "ResNet":
            raise ValueError(f"unsupported DeepLabCut backbone {backbone_cfg.get('type')!r}: vistream rebuilds "
                             "ResNet backbones (export other models to ONNX and load the .onnx file)")
        if model_cfg.get("neck"):
            raise ValueError("DeepLabCut models with a neck are not supported (export them to ONNX)")
        heads = model_cfg.get("heads") or {}
        if set(heads) != {"bodypart"}:
            raise ValueError(f"only single-animal models with one 'bodypart' head are supported, got heads "
                             f"{sorted(heads)} (multi-animal and identity heads are not)")
        head_cfg = heads["bodypart"]
        if head_cfg.get("type") != "HeatmapHead":
            raise ValueError(f"unsupported DeepLabCut head {head_cfg.get('type')!r} (supported: HeatmapHead)")
        self.backbone = _ResNetBackbone(backbone_cfg.get("model_name", "resnet50"),
                                        int(backbone_cfg.get("output_stride", 32)))
        self.heads = nn.ModuleDict({"bodypart": _HeatmapHead(head_cfg["heatmap_config"],
                                                              head_cfg.get("locref_config"))})
        # pixels of the input per heatmap cell (DeepLabCut's model stride)
        self.stride = self.backbone.stride / self.heads["bodypart"].stride

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        head = self.heads["bodypart"]
        heatmap = head.heatmap_head(features)
        if head.locref_head is None:
            return heatmap, heatmap.new_zeros((heatmap.shape[0], 0, heatmap.shape[2], heatmap.shape[3]))
        return heatmap, head.locref_head(features)

    def load_dlc_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> None:
        """Loads DeepLabCut's ``PoseModel`` state dict; a mismatch names the differing keys."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        wrong_shape = sorted(key for key in set(own) & set(state_dict)
                             if tuple(own[key].shape) != tuple(state_dict[key].shape))
        if missing or unexpected or wrong_shape:
            raise CheckpointMismatchError(
                "the snapshot's tensors do not match the network its pytorch_config.yaml describes: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong_shape[:5]}")
        self.load_state_dict(state_dict)
