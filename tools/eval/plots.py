"""Plots of the evaluation harness, written without plotting libraries: SVG bar charts and an SVG
of stacked spectrograms (each panel an embedded PNG, encoded here with zlib).

  bar_chart_svg(path, title, unit, groups, series)   # series: {system: [value per group]}
  spectrogram_svg(path, title, panels, sr)           # panels: [(label, signal)], same rate
"""

from __future__ import annotations

import base64
import html
import math
import pathlib
import struct
import zlib

import numpy as np

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd", "#1b9e77", "#7570b3"]
# Anchors of a perceptually ordered dark-blue -> teal -> yellow colour map.
LEVELS = 48   # colour levels of the spectrogram images
_CMAP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                 np.float64)


def png_bytes(index: np.ndarray, palette: np.ndarray) -> bytes:
    """8-bit palette PNG (no filtering, zlib level 9): index HxW uint8, palette Kx3 uint8."""
    h, w = index.shape
    raw = b"".join(b"\x00" + index[r].astype(np.uint8).tobytes() for r in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)) +
            chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes()) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def colormap(v: np.ndarray) -> np.ndarray:
    """v in [0, 1] -> uint8 RGB."""
    v = np.clip(v, 0, 1) * (len(_CMAP) - 1)
    i = np.minimum(v.astype(int), len(_CMAP) - 2)
    f = (v - i)[..., None]
    return np.round(_CMAP[i] * (1 - f) + _CMAP[i + 1] * f).astype(np.uint8)


def stft(x: np.ndarray, n_fft: int = 512, hop: int = 256) -> np.ndarray:
    """Complex STFT, Hann window, frames starting every hop while a whole frame fits (no
    padding; x must hold at least n_fft samples): shape (frames, n_fft/2+1)."""
    win = np.hanning(n_fft)
    fr = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), n_fft)[::hop] * win
    return np.fft.rfft(fr, axis=1)


def stft_db(x: np.ndarray, n_fft: int = 512, hop: int = 256) -> np.ndarray:
    """Power spectrogram in dB, shape (n_fft/2+1, frames)."""
    x = np.asarray(x, np.float64)
    if len(x) < n_fft:
        x = np.concatenate([x, np.zeros(n_fft - len(x))])
    p = np.abs(stft(x, n_fft, hop)) ** 2
    return 10 * np.log10(p.T + 1e-12)


def spectrogram_svg(path: pathlib.Path, title: str, panels: list, sr: int,
                    dynamic_db: float = 80.0) -> None:
    """One spectrogram per (label, signal), common colour scale (top = loudest bin of all)."""
    specs = [(label, stft_db(x)) for label, x in panels]
    pal = colormap(np.linspace(0, 1, LEVELS))
    top = max(float(s.max()) for _, s in specs)
    pw, ph, left, gap, head = 760, 150, 150, 18, 34
    height = head + len(specs) * (ph + gap) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + pw + 20}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    nyq = sr / 2
    for k, (label, s) in enumerate(specs):
        v = (s - (top - dynamic_db)) / dynamic_db
        v = 0.5 * (v[:-1:2] + v[1::2])     # 256 -> 128 rows (pairs of bins)
        idx = np.round(np.clip(v[::-1], 0, 1) * (LEVELS - 1)).astype(np.uint8)  # low f at bottom
        b64 = base64.b64encode(png_bytes(idx, pal)).decode()
        y = head + k * (ph + gap)
        out.append(f'<image x="{left}" y="{y}" width="{pw}" height="{ph}" '
                   f'preserveAspectRatio="none" href="data:image/png;base64,{b64}"/>')
        out.append(f'<text x="{left - 8}" y="{y + ph / 2}" text-anchor="end">'
                   f'{html.escape(label)}</text>')
        for f in (0, nyq / 2, nyq):
            yy = y + ph - ph * f / nyq
            out.append(f'<text x="{left + pw + 3}" y="{yy + 4:.1f}" font-size="9">'
                       f'{f / 1000:g}k</text>')
    out.append(f'<text x="{left}" y="{height - 5}" font-size="10">{sr} Hz, 512-point Hann '
               f'STFT, hop 256; colour: top {dynamic_db:g} dB of the loudest bin (all panels '
               f'share the scale)</text>')
    out.append("</svg>")
    pathlib.Path(path).write_text("\n".join(out) + "\n")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    a = math.floor(lo / step + 1e-9)
    b = math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) for k in range(a, b + 1)]


def bar_chart_svg(path: pathlib.Path, title: str, unit: str, groups: list[str],
                  series: dict) -> None:
    """Grouped bars: one group per entry of groups, one bar per series (NaN: no bar)."""
    vals = [v for vs in series.values() for v in vs if v is not None and math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.05 * (hi - lo or 1)
    ticks = _nice_ticks(lo - (pad if lo < 0 else 0), hi + pad)
    y0, y1 = ticks[0], ticks[-1]
    left, top, pw, ph = 60, 40, 90 * len(groups) + 40, 260
    names = list(series)
    legend_h = 16 * len(names) + 10
    width, height = left + pw + 20, top + ph + 40 + legend_h

    def ypx(v):
        return top + ph - (v - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">'
           f'{html.escape(title)}{" (" + html.escape(unit) + ")" if unit else ""}</text>']
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{ypx(t):.1f}" y2="{ypx(t):.1f}" '
                   f'stroke="{"#000" if t == 0 else "#ddd"}" stroke-width="1"/>')
        out.append(f'<text x="{left - 5}" y="{ypx(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    gw = pw / max(1, len(groups))
    bw = (gw - 16) / max(1, len(names))
    for g, gname in enumerate(groups):
        gx = left + g * gw + 8
        out.append(f'<text x="{gx + (gw - 16) / 2:.1f}" y="{top + ph + 16}" '
                   f'text-anchor="middle">{html.escape(gname)}</text>')
        for s, name in enumerate(names):
            v = series[name][g]
            if v is None or not math.isfinite(v):
                continue
            ya, yb = sorted((ypx(0.0) if y0 <= 0 <= y1 else ypx(y0), ypx(v)))
            out.append(f'<rect x="{gx + s * bw:.1f}" y="{ya:.1f}" width="{max(bw - 1, 1):.1f}" '
                       f'height="{max(yb - ya, 0.5):.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                       f'<title>{html.escape(name)} {html.escape(gname)}: {v:.3f}</title></rect>')
    ly = top + ph + 34
    for s, name in enumerate(names):
        out.append(f'<rect x="{left}" y="{ly + 16 * s}" width="12" height="12" '
                   f'fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{left + 18}" y="{ly + 16 * s + 10}">{html.escape(name)}</text>')
    out.append("</svg>")
    pathlib.Path(path).write_text("\n".join(out) + "\n")
