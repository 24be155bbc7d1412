#!/usr/bin/env python3
"""PyTorch peer of ghostnv_demucs_cuda_benchmark on the same GPU (dns48's shape, fp32, TF32 off).

1. Batch 1, streaming: the `denoiser` package's DemucsStreamer (num_frames=1: the algorithm the
   GPU plan and the CPU family run), one hop per feed(), PCM from host memory in and back out,
   timed per hop (p50/p99/max).
2. Large batches: DemucsStreamer cannot batch sessions, so the peer is Demucs.forward on a batch
   of [B, 1, frame_length] frames per hop (what one streaming frame costs WITHOUT the streamer's
   reuse of encoder outputs: more work than the plan does), eager and under torch.no_grad().

`denoiser` is pure Python; pass its directory's parent with --pylib (the H200 image has torch but
not the package). Random weights (the timing does not depend on them).
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pylib", default="")
    ap.add_argument("--hops", type=int, default=500)
    ap.add_argument("--batches", default="1,64,256,1024,4096")
    ap.add_argument("--hidden", type=int, default=48)
    a = ap.parse_args()
    if a.pylib:
        sys.path.insert(0, a.pylib)
    import numpy as np
    import torch
    from denoiser.demucs import Demucs, DemucsStreamer
    if not torch.cuda.is_available():
        print("SKIP: no CUDA device for torch")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = Demucs(hidden=a.hidden, depth=5, causal=True, resample=4).to(dev).eval()
    hop = model.total_stride  # stride ** depth // resample (a property)
    hop_us = 1e6 * hop / 16000
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; Demucs hidden {a.hidden}, "
          f"hop {hop}")
    rng = np.random.default_rng(0)
    with torch.no_grad():
        st = DemucsStreamer(model, dry=0, num_frames=1)
        lat = []
        for k in range(a.hops + 20):
            x = (0.1 * rng.standard_normal(hop)).astype(np.float32)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            y = st.feed(torch.from_numpy(x).to(dev)[None])
            y = y.cpu().numpy()
            t1 = time.perf_counter()
            if k >= 20:
                lat.append((t1 - t0) * 1e6)
        lat.sort()
        print(f"torch DemucsStreamer batch 1 per hop: p50 {lat[len(lat) // 2]:.1f} us, "
              f"p99 {lat[int(0.99 * (len(lat) - 1))]:.1f} us, max {lat[-1]:.1f} us (hop {hop_us:.0f} us)")
        flen = model.valid_length(1)
        print(f"| batch | torch frame forward us per hop | streams in real time |")
        for b in [int(v) for v in a.batches.split(",")]:
            try:
                x = torch.randn(b, 1, flen, device=dev) * 0.1
                for _ in range(3):
                    model(x)
                torch.cuda.synchronize()
                n = 10
                t0 = time.perf_counter()
                for _ in range(n):
                    model(x)
                torch.cuda.synchronize()
                us = (time.perf_counter() - t0) / n * 1e6
                rt = b if us <= hop_us else b * hop_us / us
                print(f"| {b} | {us:.1f} | {rt:.0f}{'' if us <= hop_us else ' (misses the hop)'} |")
            except RuntimeError as e:  # out of memory at large batches
                print(f"| {b} | failed: {str(e).splitlines()[0]} | |")
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
