#!/usr/bin/env python3
"""Copies an evaluate.py results.json without the named systems, so that `evaluate.py --reuse`
with the copy scores those systems again (their spec text is unchanged when only a model file
behind it changed, e.g. a re-trained models/weights/ultra.gnvm behind `ghostnv:ultra`).

    python3 tools/eval/reuse_filter.py OLD/results.json reuse-base.json 'ghostnv ultra,ghostnv default'
"""
import json
import sys


def main(argv) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, drop = argv[0], argv[1], {s.strip() for s in argv[2].split(",") if s.strip()}
    r = json.load(open(src))
    unknown = drop - set(r.get("system_specs", {}))
    if unknown:
        print(f"reuse_filter: not in {src}: {sorted(unknown)}", file=sys.stderr)
        return 1
    for k in drop:
        r["system_specs"].pop(k)
    with open(dst, "w") as f:
        json.dump(r, f)
    print(f"reuse_filter: kept {sorted(r['system_specs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
