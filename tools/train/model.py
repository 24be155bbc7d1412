"""The RNNoise network in PyTorch, wired exactly as RNNoise (Valin 2018), and its training loss.

  features [B, T, 42] -> input_dense (42->24, tanh) -> vad_gru (24)          -> vad_output (1, sigmoid)
                         noise_gru   (in: dense, vad_gru, features = 90 -> 48)
                         denoise_gru (in: vad_gru, noise_gru, features = 114 -> 96)
                                                                             -> denoise_output (22, sigmoid)

  net = RNNoiseNet()
  gains, vad, state = net(features)                # gains [B,T,22], vad [B,T,1]
  loss, parts = rnnoise_loss(gains, vad, target_gains, target_vad)

GRUs are torch.nn.GRU (reset applied after the recurrent product, tanh candidate), which the
export writes as reset_after=true with gates reordered to z, r, h (see export.py).
"""

from __future__ import annotations

import torch
from torch import nn

NB_FEATURES = 42
NB_BANDS = 22
DENSE = 24
VAD_UNITS = 24
NOISE_UNITS = 48
DENOISE_UNITS = 96


class RNNoiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_dense = nn.Linear(NB_FEATURES, DENSE)
        self.vad_gru = nn.GRU(DENSE, VAD_UNITS, batch_first=True)
        self.noise_gru = nn.GRU(DENSE + VAD_UNITS + NB_FEATURES, NOISE_UNITS, batch_first=True)
        self.denoise_gru = nn.GRU(VAD_UNITS + NOISE_UNITS + NB_FEATURES, DENOISE_UNITS,
                                  batch_first=True)
        self.denoise_output = nn.Linear(DENOISE_UNITS, NB_BANDS)
        self.vad_output = nn.Linear(VAD_UNITS, 1)
        # Fixed input normalisation (set from training data before training, never learned).
        # Every consumer of the features is linear in them (input_dense and the input side of
        # both GRUs), so export.py folds it into those weights and biases: the exported model
        # takes the raw features, like every RNNoise model.
        self.register_buffer("feature_mean", torch.zeros(NB_FEATURES))
        self.register_buffer("feature_std", torch.ones(NB_FEATURES))

    def set_normalisation(self, mean, std):
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-3))

    def forward(self, x: torch.Tensor, state=None):
        """x: [B, T, 42] raw features. state: None or (h_vad, h_noise, h_denoise), each
        [1, B, units]. Returns gains [B, T, 22], vad [B, T, 1], new state."""
        hv, hn, hd = state if state is not None else (None, None, None)
        x = (x - self.feature_mean) / self.feature_std
        dense = torch.tanh(self.input_dense(x))
        vad_out, hv = self.vad_gru(dense, hv)
        noise_out, hn = self.noise_gru(torch.cat([dense, vad_out, x], dim=-1), hn)
        denoise_out, hd = self.denoise_gru(torch.cat([vad_out, noise_out, x], dim=-1), hd)
        gains = torch.sigmoid(self.denoise_output(denoise_out))
        vad = torch.sigmoid(self.vad_output(vad_out))
        return gains, vad, (hv, hn, hd)


def _bce(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p))


def rnnoise_loss(gains, vad, target_gains, target_vad, vad_weight: float = 0.05,
                 under_weight: float = 0.0):
    """RNNoise's loss. Gains: mean over cared-for entries (target != -1) of
    10*(sqrt(g)-sqrt(t))^4 + (sqrt(g)-sqrt(t))^2 + 0.01*bce(g, t).
    VAD: bce against target_vad (0, 0.5 or 1), weighted by vad_weight (RNNoise weighs its two
    outputs 10 : 0.5, i.e. 0.05 relative to the gain loss).
    under_weight > 0 protects speech: entries where the gain is below its target (speech
    attenuated) are weighted by 1 + under_weight * target, so passing speech through costs less
    than removing it (0 = RNNoise's symmetric loss).
    Returns (total, {"gain": ..., "vad": ...})."""
    mask = (target_gains >= 0).to(gains.dtype)
    t = target_gains.clamp(min=0)
    d = torch.sqrt(gains.clamp(min=1e-12)) - torch.sqrt(t)
    per = 10 * d ** 4 + d ** 2 + 0.01 * _bce(gains, t)
    if under_weight:
        per = per * (1 + under_weight * t * (d < 0).to(gains.dtype))
    gain_loss = (per * mask).sum() / mask.sum().clamp(min=1)
    vad_loss = _bce(vad.squeeze(-1), target_vad).mean()
    return gain_loss + vad_weight * vad_loss, {"gain": gain_loss.detach(), "vad": vad_loss.detach()}
