#!/usr/bin/env python3
"""The PyTorch peer of ghostnv_cuda_plan_benchmark: the RNNoise network alone (the default
model's shapes: dense 42->24 tanh, GRU 24->24, GRU 90->48, GRU 114->96, dense 96->22 sigmoid,
dense 24->1 sigmoid, wired like models/rnnoise), one 10 ms step for `batch` streams, state
chained, on the same GPU; eager and CUDA-graph replay, timed with CUDA events.

  python3 runtime/sched/cuda_plan_benchmark_torch.py [--batches 1,1024,...] [--iters 200]

Compare its graph-replay column with the "network" stage of ghostnv_cuda_plan_benchmark's
profiled pass ("cuda_plan stages ... network N") at the same batch: that is the same network
(our kernels, inside the full pipeline's graph). fp32, TF32 off (our arithmetic class).
Prints one line per batch: "torch network batch B: eager E us, graph G us per step".
"""
import argparse
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,1024,4096,16384,65536")
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch network: torch not installed")
        return 0
    if not torch.cuda.is_available():
        print("torch network: no CUDA device")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    F = 42

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.input_dense = torch.nn.Linear(F, 24)
            self.vad_gru = torch.nn.GRUCell(24, 24)
            self.noise_gru = torch.nn.GRUCell(24 + 24 + F, 48)
            self.denoise_gru = torch.nn.GRUCell(24 + 48 + F, 96)
            self.denoise_output = torch.nn.Linear(96, 22)
            self.vad_output = torch.nn.Linear(24, 1)

        def forward(self, feat, hv, hn, hd):
            d = torch.tanh(self.input_dense(feat))
            hv2 = self.vad_gru(d, hv)
            vad = torch.sigmoid(self.vad_output(hv2))
            hn2 = self.noise_gru(torch.cat([d, hv2, feat], 1), hn)
            hd2 = self.denoise_gru(torch.cat([hv2, hn2, feat], 1), hd)
            gains = torch.sigmoid(self.denoise_output(hd2))
            return gains, vad, hv2, hn2, hd2

    net = Net().to(dev).eval()
    for b in [int(x) for x in args.batches.split(",") if x]:
        feat = torch.randn(b, F, device=dev)
        hv = torch.zeros(b, 24, device=dev)
        hn = torch.zeros(b, 48, device=dev)
        hd = torch.zeros(b, 96, device=dev)
        with torch.no_grad():
            def step():
                _, _, v, n, d = net(feat, hv, hn, hd)
                hv.copy_(v)
                hn.copy_(n)
                hd.copy_(d)
            for _ in range(20):
                step()
            torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(args.iters):
                step()
            e.record()
            e.synchronize()
            eager = s.elapsed_time(e) * 1000 / args.iters
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                step()
            for _ in range(20):
                g.replay()
            torch.cuda.synchronize()
            s.record()
            for _ in range(args.iters):
                g.replay()
            e.record()
            e.synchronize()
            graph = s.elapsed_time(e) * 1000 / args.iters
        print(f"torch network batch {b:6d}: eager {eager:9.1f} us, graph {graph:9.1f} us per step")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
