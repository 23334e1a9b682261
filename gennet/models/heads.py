"""Classification heads shared by the backbones that end in a global average pool."""

from torch import Tensor, nn


class GlobalPoolHead(nn.Module):
    """Global average pool -> dropout -> one logit per crop."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(x.mean(dim=(2, 3)))).squeeze(1)
