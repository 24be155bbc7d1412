"""ghostnv-convert: ONNX graphs -> one GhostNV .gnvm model file (see README.md)."""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "train"))

import convert_ultra  # noqa: E402  (tools/train/convert_ultra.py: our ultra model's graph)
import family_dfn3  # noqa: E402  (DeepFilterNet3: converted from the graphs directly)
import family_demucs  # noqa: E402  (causal Demucs: matched on the ONNX graph itself)
import family_dtln  # noqa: E402
import patterns  # noqa: E402
from gnvm_writer import write_gnvm  # noqa: E402
from onnx_lower import ConvertError, lower_model  # noqa: E402

FAMILIES = [("dtln", family_dtln), ("ultra", convert_ultra)]
PRECISION = {"fp32": "f32", "fp16": "f16", "int8": "i8"}


def convert(paths, out, precision="fp32"):
    if family_dfn3.looks_like(paths):  # DeepFilterNet3's enc/erb_dec/df_dec (+ config.ini)
        header, tensors = family_dfn3.convert(paths)
        header["metadata"]["precision"] = precision
        write_gnvm(out, header, tensors, PRECISION[precision])
        return "dfn3"
    demucs = family_demucs.recognise_onnx(paths)  # one Demucs graph (Conv/ConvTranspose/LSTM)
    if demucs is not None:
        header, tensors = family_demucs.build(demucs, [os.path.basename(p) for p in paths])
        header["metadata"]["precision"] = precision
        write_gnvm(out, header, tensors, PRECISION[precision])
        return "demucs"
    programs = [patterns.optimise(lower_model(p, os.path.basename(p))) for p in paths]
    for name, fam in FAMILIES:
        stages = fam.recognise(programs)
        if stages is not None:
            header, tensors = fam.build(stages, [os.path.basename(p) for p in paths])
            header["metadata"]["precision"] = precision
            write_gnvm(out, header, tensors, PRECISION[precision])
            return name
    summary = "; ".join(f"{p.name}: inputs {[p.size[v] for v in p.inputs.values()]}, layers "
                        f"{[o.kind for o in p.ops if o.kind != 'gather']}" for p in programs)
    raise ConvertError(f"no model family matches these graphs ({summary}); known: "
                       f"{[n for n, _ in FAMILIES] + ['dfn3', 'demucs']}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ghostnv-convert",
                                 description="Convert ONNX graphs to a GhostNV .gnvm model.")
    ap.add_argument("-o", "--output", required=True, help="output .gnvm file")
    ap.add_argument("--precision", choices=sorted(PRECISION), default="fp32")
    ap.add_argument("models", nargs="+", help="ONNX files (DTLN: model_1.onnx model_2.onnx)")
    a = ap.parse_args(argv)
    try:
        fam = convert(a.models, a.output, a.precision)
    except ConvertError as e:
        print(f"ghostnv-convert: error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"ghostnv-convert: error: {e}", file=sys.stderr)
        return 1
    print(f"ghostnv-convert: wrote {a.output} (family {fam}, {a.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
