"""Sequence models: an LSTM classifier over multichannel time series (ICU vital signs).

LSTM FLOPs are counted analytically (``analytic_flops``): torch's FLOP counter does not see inside
the fused LSTM kernel, and VOPS and the simulated node times need a real count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_aibench._lazy import lazy

if TYPE_CHECKING:
    from torch import nn
else:
    nn = lazy("torch.nn")


def lstm(num_classes: int = 2, in_channels: int = 5, hidden: int = 32, layers: int = 1, dropout: float = 0.1) -> Any:
    """LSTM over (N, T, C) readings; a linear head on the last step's hidden state."""

    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(
                in_channels, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
            )
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, num_classes)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(self.drop(out[:, -1]))

        def analytic_flops(self, shape: tuple[int, ...]) -> int:
            """Per sample of ``shape`` (N, T, C): four gates' input and recurrent matmuls (2 FLOPs per
            multiply-add) plus their biases, the cell update, and the head."""
            _, steps, _ = shape
            total, cin = 0, in_channels
            for _ in range(layers):
                total += steps * (2 * 4 * hidden * (cin + hidden) + 8 * hidden + 6 * hidden)
                cin = hidden
            return int(shape[0]) * (total + 2 * hidden * num_classes)

    return LSTMClassifier()
