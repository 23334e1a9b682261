"""RMNet (E. Izutov, "Fast and Accurate Person Re-Identification with RMNet", 2018).

The residual MobileNet-style backbone of OpenVINO's person re-identification models: every block is
1x1 reduce -> 3x3 depthwise -> 1x1 expand with ELU activations and an identity (or pooled 1x1)
shortcut; four stages of 32/64/128/256 channels and 4/8/10/11 blocks. Here it ends in a single-logit
head for the binary task and is trained from scratch (no public pretrained weights ship offline).
"""

from torch import Tensor, nn

from gennet.models.heads import GlobalPoolHead
from gennet.models.registry import register_model

_STAGES = ((32, 4), (64, 8), (128, 10), (256, 11))


class RMBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, bottleneck: int = 4) -> None:
        super().__init__()
        mid = max(cout // bottleneck, 8)
        self.branch = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ELU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.ELU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )
        self.act = nn.ELU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class RMNet(nn.Module):
    def __init__(self, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        stem = int(32 * width)
        layers: list[nn.Module] = [
            nn.Conv2d(3, stem, 3, 2, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ELU(inplace=True),
        ]
        cin = stem
        for index, (channels, blocks) in enumerate(_STAGES):
            cout = int(channels * width)
            for i in range(blocks):
                stride = 2 if i == 0 and index > 0 else 1
                layers.append(RMBlock(cin, cout, stride))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = GlobalPoolHead(cin, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@register_model
def rmnet(width: float = 1.0, dropout: float = 0.2) -> nn.Module:
    return RMNet(width=width, dropout=dropout)
