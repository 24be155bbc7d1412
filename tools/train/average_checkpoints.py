#!/usr/bin/env python3
"""Weight average of two checkpoints of the same network ("model soup"): w = a * A + (1 - a) * B,
tensor by tensor, in float32. Both must come from the same initialisation (fine-tunings of one
model), or the average means nothing. The output keeps B's other fields (net sizes, corpus,
config), so export_ultra.py / export.py take it; `soup` records what was averaged.

    python3 tools/train/average_checkpoints.py A.pt B.pt --weight-a 0.55 --out soup.pt
"""

import argparse
import sys

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--weight-a", type=float, required=True, help="a in [0, 1]")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not 0.0 <= args.weight_a <= 1.0:
        ap.error("--weight-a must be in [0, 1]")
    a = torch.load(args.a, map_location="cpu", weights_only=False)
    b = torch.load(args.b, map_location="cpu", weights_only=False)
    if set(a["model"]) != set(b["model"]):
        raise SystemExit("the checkpoints hold different tensors")
    al = args.weight_a
    sd = {}
    for k, vb in b["model"].items():
        va = a["model"][k]
        if va.shape != vb.shape:
            raise SystemExit(f"{k}: shapes differ ({tuple(va.shape)} vs {tuple(vb.shape)})")
        sd[k] = al * va.float() + (1 - al) * vb.float()
    out = dict(b)
    out["model"] = sd
    out["soup"] = {"a": args.a, "b": args.b, "weight_a": al,
                   "step_a": a.get("step"), "step_b": b.get("step")}
    torch.save(out, args.out)
    print(f"wrote {args.out}: {al} x {args.a} + {1 - al:g} x {args.b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
