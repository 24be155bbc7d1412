#!/usr/bin/env python3
"""Write (and read back) GhostNV .gnvm model files from Python with numpy only.

The format is specified in models/README.md ("File formats"); the C++ reader is
models/gnvm.cc. This module is what the training scripts use to export weights:

    import numpy as np
    from gnvm_writer import write_gnvm

    header = {
        "family": "rnnoise", "name": "my-model",
        "sample_rate": 48000, "frame_size": 960, "hop_size": 480,
        "algorithmic_latency": 480, "math": "exact",
        "metadata": {"trained_on": "..."},
        "layers": [
            {"name": "input_dense", "kind": "dense", "inputs": 42, "units": 24,
             "activation": "tanh",
             "tensors": {"weights": "input_dense.weights", "bias": "input_dense.bias"}},
            ...
        ],
    }
    tensors = {"input_dense.weights": w,   # np.ndarray [inputs, units]
               "input_dense.bias": b, ...}
    write_gnvm("my-model.gnvm", header, tensors, precision="f16")

Layouts (input-major): dense weights [inputs, units], bias [units]; gru weights
[inputs, 3*units], recurrent [units, 3*units], biases [3*units], gates ordered z, r, h.
`precision` ("f32", "f16", "i8") applies to tensors of rank >= 2; vectors are always f32.
The header's "tensors" table (offsets, sizes, dtypes, scales) is computed here; do not pass it.

Self-test (used by the C++ test models/gnvm_writer_py_test.cc):
    python3 tools/train/gnvm_writer.py --selftest OUT.gnvm [--precision f32|f16|i8]
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

MAGIC = b"GNVM"
VERSION = 1
ALIGN = 64
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MAX_UNITS = 4096
PRECISIONS = ("f32", "f16", "i8")
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")
MATH_MODES = ("exact", "rnnoise_approx")
_DTYPE_SIZE = {"f32": 4, "f16": 2, "i8": 1}


def fnv1a64(data, h=FNV_OFFSET):
    """FNV-1a 64 of a bytes-like object (pure Python; about 10 MB/s)."""
    mask = 0xFFFFFFFFFFFFFFFF
    for b in memoryview(data).cast("B"):
        h = ((h ^ b) * FNV_PRIME) & mask
    return h


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _expected_shapes(layer):
    kind = layer["kind"]
    n_in, units = int(layer["inputs"]), int(layer["units"])
    if kind == "dense":
        return {"weights": (n_in, units), "bias": (units,)}, ("weights",)
    if kind == "gru":
        g = 3 * units
        return ({"weights": (n_in, g), "recurrent": (units, g), "bias": (g,),
                 "recurrent_bias": (g,)}, ("weights", "recurrent"))
    raise ValueError(f"layer {layer.get('name')!r}: unknown kind {kind!r}")


def _check_header(header, tensors):
    for key in ("family", "name", "math", "layers"):
        if key not in header:
            raise ValueError(f"header needs {key!r}")
    for key in ("sample_rate", "frame_size", "hop_size", "algorithmic_latency"):
        if not isinstance(header.get(key), int) or isinstance(header.get(key), bool):
            raise ValueError(f"header {key!r} must be an int")
    if header["math"] not in MATH_MODES:
        raise ValueError(f"math must be one of {MATH_MODES}")
    if not isinstance(header.get("metadata", {}), dict):
        raise ValueError("metadata must be a dict")
    if not header["layers"]:
        raise ValueError("the model has no layers")
    names = set()
    for layer in header["layers"]:
        name = layer.get("name")
        if not name or name in names:
            raise ValueError(f"layer name {name!r} is empty or repeated")
        names.add(name)
        for key in ("inputs", "units"):
            v = layer.get(key)
            if not isinstance(v, int) or not 1 <= v <= MAX_UNITS:
                raise ValueError(f"layer {name!r}: {key} must be an int in 1..{MAX_UNITS}")
        if layer.get("activation") not in ACTIVATIONS:
            raise ValueError(f"layer {name!r}: activation must be one of {ACTIVATIONS}")
        shapes, required = _expected_shapes(layer)
        refs = layer.get("tensors", {})
        for role in refs:
            if role not in shapes:
                raise ValueError(f"layer {name!r}: unexpected tensor role {role!r}")
        for role in required:
            if role not in refs:
                raise ValueError(f"layer {name!r}: no {role!r} tensor")
        for role, tname in refs.items():
            if tname not in tensors:
                raise ValueError(f"layer {name!r}: tensor {tname!r} not given")
            if tuple(np.shape(tensors[tname])) != shapes[role]:
                raise ValueError(f"layer {name!r}: {role} {tname!r} has shape "
                                 f"{tuple(np.shape(tensors[tname]))}, expected {shapes[role]}")


def _encode(name, array, precision):
    """Returns (dtype, bytes, scales or None) for one tensor."""
    a = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    if a.ndim < 1 or a.ndim > 4:
        raise ValueError(f"tensor {name!r}: rank must be 1..4")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"tensor {name!r} holds NaN or Inf")
    p = precision if a.ndim >= 2 else "f32"
    if p == "f32":
        return "f32", a.astype("<f4").tobytes(), None
    if p == "f16":
        h = a.astype("<f2")  # IEEE half, round to nearest even
        if not np.all(np.isfinite(h)):
            raise ValueError(f"tensor {name!r}: values out of f16 range")
        return "f16", h.tobytes(), None
    # i8: symmetric, one scale per output channel (the last axis).
    cols = a.shape[-1]
    a2 = a.reshape(-1, cols)
    scales = (np.max(np.abs(a2), axis=0) / np.float32(127)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1))
    q = np.where(scales > 0, np.rint(a2 / safe), np.float32(0))
    q = np.clip(q, -127, 127).astype(np.int8)
    return "i8", q.tobytes(), [float(s) for s in scales]


def serialize_gnvm(header, tensors, precision="f32"):
    """Returns the .gnvm image as bytes."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    _check_header(header, tensors)
    table, blobs, offset = [], [], 0
    for name, array in tensors.items():
        dtype, blob, scales = _encode(name, array, precision)
        entry = {"name": name, "dtype": dtype, "shape": [int(d) for d in np.shape(array)],
                 "offset": offset, "nbytes": len(blob)}
        if scales is not None:
            entry["scales"] = scales
        table.append(entry)
        blobs.append((offset, blob))
        offset = _align(offset + len(blob))
    full = {k: v for k, v in header.items() if k != "tensors"}
    full.setdefault("metadata", {})
    full["tensors"] = table
    text = json.dumps(full, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
    out = bytearray(MAGIC + struct.pack("<IQ", VERSION, len(text)) + text)
    data_start = _align(len(out))
    out += b"\0" * (data_start - len(out))
    for off, blob in blobs:
        out += b"\0" * (data_start + off - len(out))
        out += blob
    out += struct.pack("<Q", fnv1a64(out))
    return bytes(out)


def write_gnvm(path, header, tensors, precision="f32"):
    """Writes a .gnvm file: to path + '.tmp', fsync, then rename over path."""
    data = serialize_gnvm(header, tensors, precision)
    tmp = str(path) + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_gnvm(path):
    """Reads a .gnvm file: returns (header dict, {name: float32 ndarray}). Checks the checksum."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24 or data[:4] != MAGIC:
        raise ValueError(f"{path}: not a .gnvm file")
    version, hlen = struct.unpack_from("<IQ", data, 4)
    if version != VERSION:
        raise ValueError(f"{path}: unsupported format version {version}")
    if struct.unpack_from("<Q", data, len(data) - 8)[0] != fnv1a64(memoryview(data)[:-8]):
        raise ValueError(f"{path}: checksum mismatch (file corrupt?)")
    header = json.loads(data[16:16 + hlen].decode("utf-8"))
    base = _align(16 + hlen)
    tensors = {}
    for t in header["tensors"]:
        start = base + t["offset"]
        raw = data[start:start + t["nbytes"]]
        shape = tuple(t["shape"])
        if t["dtype"] == "f32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif t["dtype"] == "f16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            q = np.frombuffer(raw, dtype=np.int8).astype(np.float32).reshape(-1, shape[-1])
            a = q * np.asarray(t["scales"], dtype=np.float32)
        tensors[t["name"]] = a.reshape(shape)
    return header, tensors


# --- self-test ------------------------------------------------------------------------------

def selftest_value(k, i):
    """Value i (flat index) of the self-test's tensor number k: a multiple of 1/16 in
    [-0.5, 0.5], exact in f32 and f16. Mirrored in models/gnvm_writer_py_test.cc."""
    return ((i * 7 + k * 3) % 17 - 8) / 16.0


def selftest_model():
    layers = [
        {"name": "in", "kind": "dense", "inputs": 5, "units": 3, "activation": "tanh",
         "tensors": {"weights": "in.weights", "bias": "in.bias"}},
        {"name": "gru", "kind": "gru", "inputs": 3, "units": 2, "activation": "tanh",
         "reset_after": True,
         "tensors": {"weights": "gru.weights", "recurrent": "gru.recurrent",
                     "bias": "gru.bias", "recurrent_bias": "gru.recurrent_bias"}},
        {"name": "out", "kind": "dense", "inputs": 2, "units": 4, "activation": "sigmoid",
         "tensors": {"weights": "out.weights"}},
    ]
    shapes = [("in.weights", (5, 3)), ("in.bias", (3,)), ("gru.weights", (3, 6)),
              ("gru.recurrent", (2, 6)), ("gru.bias", (6,)), ("gru.recurrent_bias", (6,)),
              ("out.weights", (2, 4))]
    tensors = {}
    for k, (name, shape) in enumerate(shapes):
        n = int(np.prod(shape))
        tensors[name] = np.array([selftest_value(k, i) for i in range(n)],
                                 dtype=np.float32).reshape(shape)
    header = {"family": "selftest", "name": "python selftest \u00e9", "sample_rate": 16000,
              "frame_size": 320, "hop_size": 160, "algorithmic_latency": 160, "math": "exact",
              "metadata": {"writer": "gnvm_writer.py", "numbers": [1, 2.5]}, "layers": layers}
    return header, tensors


def selftest(path, precision):
    header, tensors = selftest_model()
    write_gnvm(path, header, tensors, precision)
    h, back = read_gnvm(path)
    assert h["name"] == header["name"] and h["layers"] == header["layers"]
    for name, a in tensors.items():
        b = back[name]
        assert b.shape == a.shape, name
        if precision == "i8" and a.ndim >= 2:
            step = np.max(np.abs(a), axis=0) / 127
            assert np.all(np.abs(a - b) <= step * 0.5 * (1 + 1e-5) + 1e-30), name
        else:
            assert np.array_equal(a, b), name
    # The writer refuses what the reader would refuse.
    for bad in ({**tensors, "in.weights": np.full((5, 3), np.nan, np.float32)},
                {**tensors, "in.weights": np.zeros((3, 5), np.float32)}):
        try:
            serialize_gnvm(header, bad, precision)
        except ValueError:
            continue
        raise AssertionError("bad tensors were accepted")
    print(f"gnvm_writer selftest OK: {path} ({precision})")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", metavar="OUT", help="write a deterministic test model to OUT")
    ap.add_argument("--precision", default="f32", choices=PRECISIONS)
    args = ap.parse_args(argv)
    if not args.selftest:
        ap.error("nothing to do (this is a library; see --selftest)")
    selftest(args.selftest, args.precision)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
