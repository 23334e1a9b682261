"""IBN-Net18-a (X. Pan et al., "Two at Once: Enhancing Learning and Generalization Capacities via
IBN-Net", ECCV 2018).

A ResNet-18 whose first three stages normalise half of the channels after each block's first
convolution with InstanceNorm and half with BatchNorm. Instance normalisation removes per-image
appearance (colour, contrast, lighting) that differs between cameras, which is why IBN-Net is a
standard choice for cross-domain person re-identification.
"""

import torch
from torch import Tensor, nn

from gennet.models.heads import GlobalPoolHead
from gennet.models.registry import register_model


class IBN(nn.Module):
    """InstanceNorm on the first half of the channels, BatchNorm on the rest."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.split_at = channels // 2
        self.instance = nn.InstanceNorm2d(self.split_at, affine=True)
        self.batch = nn.BatchNorm2d(channels - self.split_at)

    def forward(self, x: Tensor) -> Tensor:
        first, second = torch.split(x, [self.split_at, x.shape[1] - self.split_at], dim=1)
        return torch.cat([self.instance(first), self.batch(second)], dim=1)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, ibn: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1: nn.Module = IBN(cout) if ibn else nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class IBNResNet18A(nn.Module):
    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        cin = 64
        for index, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if index == 0 else 2
            ibn = cout != 512  # IBN-a: instance norm in the first three stages only
            stages += [BasicBlock(cin, cout, stride, ibn), BasicBlock(cout, cout, 1, ibn)]
            cin = cout
        self.features = nn.Sequential(*stages)
        self.head = GlobalPoolHead(512, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.stem(x)))


@register_model
def ibn_resnet18_a(dropout: float = 0.2) -> nn.Module:
    return IBNResNet18A(dropout=dropout)
