#!/usr/bin/env python3
"""The PyTorch peer of ghostnv_gpu_benchmark (runtime/gpu_ops_benchmark.cc), same GPU, same size.

  --write-check FILE   one GRU case (torch weights, input, state, torch's next state; fp32
                       with TF32 off) for `ghostnv_gpu_benchmark --check FILE`
  --csv FILE           time torch.nn.GRU / nn.GRUCell steps (114 inputs, 96 units) per batch,
                       eager and CUDA-graph replay, with CUDA events (20 warm-up, --iters timed,
                       state chained); rows impl,mode,batch,us_per_step
  --table OURS THEIRS  print the side-by-side table (ours vs each torch variant, ratio = torch
                       time / ghostnv time: > 1 means GhostNV is faster)

Variants: torch-gru (nn.GRU, cuDNN, PyTorch's default settings: TF32 allowed in cuDNN),
torch-gru-fp32 (nn.GRU with TF32 disabled: the same arithmetic class as ours), torch-cell
(nn.GRUCell, default settings).
"""
import argparse
import csv
import struct
import sys

INPUTS, UNITS = 114, 96


def write_check(path, batch=113):
    import torch
    torch.manual_seed(1234)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    gru = torch.nn.GRU(INPUTS, UNITS).cuda()
    x = torch.randn(1, batch, INPUTS, device="cuda")
    h0 = torch.randn(1, batch, UNITS, device="cuda") * 0.5
    with torch.no_grad():
        _, h1 = gru(x, h0)
    arrays = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0, x, h0, h1]
    with open(path, "wb") as f:
        f.write(struct.pack("<3i", INPUTS, UNITS, batch))
        for a in arrays:
            f.write(a.detach().float().contiguous().cpu().numpy().astype("<f4").tobytes())


def time_steps(step, iters):
    import torch
    for _ in range(20):
        step()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        step()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) * 1000.0 / iters


def bench(batches, iters, out):
    import torch
    rows = []
    variants = [("torch-gru", True), ("torch-gru-fp32", False), ("torch-cell", True)]
    defaults = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, defaults: "
          f"cudnn.allow_tf32={defaults[0]} matmul.allow_tf32={defaults[1]}", flush=True)
    for name, default_math in variants:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = (
            defaults if default_math else (False, False))
        torch.manual_seed(0)
        cell = name == "torch-cell"
        model = (torch.nn.GRUCell(INPUTS, UNITS) if cell else torch.nn.GRU(INPUTS, UNITS)).cuda()
        for b in batches:
            shape_x = (b, INPUTS) if cell else (1, b, INPUTS)
            shape_h = (b, UNITS) if cell else (1, b, UNITS)
            x = torch.randn(*shape_x, device="cuda")
            h = torch.randn(*shape_h, device="cuda") * 0.5
            with torch.no_grad():
                def eager():
                    nonlocal h
                    h = model(x, h) if cell else model(x, h)[1]
                us_eager = time_steps(eager, iters)
                # Graph: capture one step reading and writing static buffers (state chained).
                sx, sh = x.clone(), h.clone()
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        model(sx, sh)
                torch.cuda.current_stream().wait_stream(side)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    nh = model(sx, sh) if cell else model(sx, sh)[1]
                    sh.copy_(nh)
                us_graph = time_steps(g.replay, iters)
            rows.append((name, "eager", b, us_eager))
            rows.append((name, "graph", b, us_graph))
            print(f"{name:15s} eager {b:7d} {us_eager:10.2f} us   graph {us_graph:10.2f} us", flush=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["impl", "mode", "batch", "us_per_step"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], f"{r[3]:.3f}"])


def table(ours_path, theirs_path):
    def load(p):
        with open(p) as f:
            return {(r["impl"], r["mode"], int(r["batch"])): float(r["us_per_step"]) for r in csv.DictReader(f)}
    ours, theirs = load(ours_path), load(theirs_path)
    impls = sorted({k[0] for k in theirs})
    batches = sorted({k[2] for k in ours})
    print(f"\nGRU step {INPUTS}->{UNITS}, us per step (ratio = torch / ghostnv; > 1: ghostnv faster)")
    for mode in ("eager", "graph"):
        head = f"{'batch':>7} {'ghostnv':>10}" + "".join(f" {i:>15} {'ratio':>6}" for i in impls)
        print(f"-- {mode}\n{head}")
        for b in batches:
            g = ours.get(("ghostnv", mode, b))
            line = f"{b:>7} {g:>10.2f}" if g else f"{b:>7} {'-':>10}"
            for i in impls:
                t = theirs.get((i, mode, b))
                line += f" {t:>15.2f} {t / g:>6.2f}" if (t and g) else f" {'-':>15} {'-':>6}"
            print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-check")
    ap.add_argument("--csv")
    ap.add_argument("--table", nargs=2)
    ap.add_argument("--batches", default="1,16,256,1024,4096,16384,65536")
    ap.add_argument("--iters", type=int, default=200)
    a = ap.parse_args()
    if a.write_check:
        write_check(a.write_check)
    if a.csv:
        bench([int(b) for b in a.batches.split(",")], a.iters, a.csv)
    if a.table:
        table(*a.table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
