"""The ultra-low-latency network (family "ultra", models/ultra/ultra_family.h) in PyTorch.

  features [B, T, 32] (log10 band energies, 2 ms hops)
    -> input_dense (32 -> 64, tanh) -> gru1 (64 -> 96)            -> vad_output  (1, sigmoid)
                                       gru2 ([gru1, dense] 160 -> 96) -> gain_output (32, sigmoid)

  net = UltraNet()
  gains, vad, state = net(features)        # gains [B,T,32], vad [B,T,1]

The loss is RNNoise's (model.rnnoise_loss). GRUs are torch.nn.GRU (reset_after = true in the
.gnvm, gates reordered z, r, h by export_ultra.py). A fixed input normalisation (mean/std of the
training features) is folded into input_dense at export: the file takes the raw features.
"""

from __future__ import annotations

import torch
from torch import nn

NB_FEATURES = 32
NB_BANDS = 32


class UltraNet(nn.Module):
    def __init__(self, dense: int = 64, gru1: int = 96, gru2: int = 96):
        super().__init__()
        self.sizes = {"dense": dense, "gru1": gru1, "gru2": gru2}
        self.input_dense = nn.Linear(NB_FEATURES, dense)
        self.gru1 = nn.GRU(dense, gru1, batch_first=True)
        self.gru2 = nn.GRU(gru1 + dense, gru2, batch_first=True)
        self.gain_output = nn.Linear(gru2, NB_BANDS)
        self.vad_output = nn.Linear(gru1, 1)
        self.register_buffer("feature_mean", torch.zeros(NB_FEATURES))
        self.register_buffer("feature_std", torch.ones(NB_FEATURES))
        self.normalise = True   # False after fold_normalisation()

    def set_normalisation(self, mean, std):
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-3))

    @torch.no_grad()
    def fold_normalisation(self) -> "UltraNet":
        """Folds the fixed input normalisation into input_dense (W' = W / std,
        b' = b - W' . mean) and drops it from the graph: the network then takes the raw features
        with no Sub/Div nodes (what the .gnvm holds, and what ONNX export writes)."""
        w = self.input_dense.weight.double() / self.feature_std.double()[None, :]
        b = self.input_dense.bias.double() - w @ self.feature_mean.double()
        self.input_dense.weight.copy_(w.float())
        self.input_dense.bias.copy_(b.float())
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        self.normalise = False
        return self

    def forward(self, x: torch.Tensor, h1=None, h2=None):
        """x: [B, T, 32] raw features; h1, h2: None or [1, B, units]. Returns gains [B,T,32],
        vad [B,T,1], (h1, h2)."""
        if self.normalise:
            x = (x - self.feature_mean) / self.feature_std
        d = torch.tanh(self.input_dense(x))
        o1, h1 = self.gru1(d, h1)
        o2, h2 = self.gru2(torch.cat([o1, d], dim=-1), h2)
        return torch.sigmoid(self.gain_output(o2)), torch.sigmoid(self.vad_output(o1)), (h1, h2)


class UltraStep(nn.Module):
    """One hop with explicit state, for ONNX export: (features [1,32], h1 [1,96], h2 [1,96]) ->
    (gains [1,32], vad [1,1], h1', h2'). Takes raw features (normalisation inside)."""

    def __init__(self, net: UltraNet):
        super().__init__()
        self.net = net

    def forward(self, features, h1, h2):
        g, v, (n1, n2) = self.net(features[:, None, :], h1[None], h2[None])
        return g[:, 0], v[:, 0], n1[0], n2[0]
