"""Rewrites on a lowered Program (onnx_lower.py): find the layers behind the element-wise ops.

Passes, in order:
  cse          merge identical ops (same kind, inputs and constants)
  fuse_dense   dense -> add_c (bias) -> sigmoid/tanh/relu, each link single-use
  lstm         an LSTM cell unrolled into MatMul/Add/Split/Sigmoid/Tanh/Mul (Keras/TF export):
                 z = x·Wx + h·Wh + b, four gate blocks; c' = σ(f)∘c + σ(i)∘tanh(g);
                 h' = σ(o)∘tanh(c'). Gate roles are read from the wiring (which sigmoid meets c,
                 which meets the tanh block, which meets tanh(c')), not from names or order.
  layer_norm   ReduceMean/Sub/Mul(or Pow 2)/ReduceMean/Add eps/Sqrt/Div [/Mul γ][/Add β]
               over the whole vector ("instant layer norm" of DTLN, LayerNorm decompositions)
After the passes, `check_supported` raises ConvertError for any op the runtime cannot run,
naming the ONNX node it came from.
"""

import numpy as np

from onnx_lower import SHIFT, ConvertError, Op

SUPPORTED = {"dense", "lstm", "gru", "layer_norm", "mul", "gather"}


def _key(op):
    parts = [op.kind, tuple(op.inputs)]
    for k in sorted(op.attrs):
        v = op.attrs[k]
        parts.append((k, v.tobytes() if isinstance(v, np.ndarray) else
                      (None if v is None else repr(v))))
    return tuple(parts)


def _replace_uses(p, old, new):
    for op in p.ops:
        op.inputs = [new if v == old else v for v in op.inputs]
        if op.kind == "gather":
            im = op.attrs["imap"]
            hit = (im > 0) & ((im - 1) // SHIFT == old)
            if np.any(hit):
                im = im.copy()
                im[hit] = im[hit] - np.int64(old) * SHIFT + np.int64(new) * SHIFT
                op.attrs["imap"] = im
                op.inputs = sorted({int((f - 1) // SHIFT) for f in im if f > 0})
    for k, v in p.outputs.items():
        if v == old:
            p.outputs[k] = new


def cse(p):
    seen = {}
    kept = []
    for op in p.ops:
        k = _key(op)
        if k in seen:
            for a, b in zip(op.outs, seen[k].outs):
                _replace_uses(p, a, b)
            continue
        seen[k] = op
        kept.append(op)
    p.ops = kept


def _single_use(p, vid):
    users, outs = p.consumers(vid)
    return users[0] if len(users) == 1 and not outs else None


def fuse_dense(p):
    changed = True
    while changed:
        changed = False
        for op in p.ops:
            if op.kind != "dense":
                continue
            nxt = _single_use(p, op.outs[0])
            if nxt is None:
                continue
            if (nxt.kind == "add_c" and op.attrs["act"] == "identity"
                    and nxt.attrs["c"].size == op.attrs["W"].shape[1]):
                b = op.attrs["b"]
                op.attrs["b"] = nxt.attrs["c"] if b is None else b + nxt.attrs["c"]
            elif nxt.kind in ("sigmoid", "tanh", "relu") and op.attrs["act"] == "identity":
                op.attrs["act"] = nxt.kind
            else:
                continue
            p.ops.remove(nxt)
            _replace_uses(p, nxt.outs[0], op.outs[0])
            changed = True
            break


def _contig(p, gather_op):
    """A gather that reads one contiguous range of one value: (vid, start, length) or None."""
    im = gather_op.attrs["imap"]
    if im.size == 0 or np.any(im <= 0):
        return None
    vids = (im - 1) // SHIFT
    if np.any(vids != vids[0]):
        return None
    idx = (im - 1) - vids[0] * SHIFT
    if not np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return None
    return int(vids[0]), int(idx[0]), int(idx.size)


def _gate(p, vid, kind):
    """vid = kind(gather contiguous block of Z): returns (op, gather op, (Z, start, len))."""
    op = p.producer(vid)
    if op is None or op.kind != kind:
        return None
    g = p.producer(op.inputs[0])
    if g is None or g.kind != "gather":
        return None
    c = _contig(p, g)
    return None if c is None else (op, g, c)


def _graph_input_of(p, vid):
    if vid in p.inputs.values():
        return vid
    op = p.producer(vid)
    if op is not None and op.kind == "gather" and len(op.inputs) == 1 \
            and op.inputs[0] in p.inputs.values():
        return op.inputs[0]
    return None


def _try_lstm(p, cn_op):
    """cn_op: add(mul, mul) candidate for c'. Returns True if an LSTM was formed."""
    if cn_op.kind != "add":
        return False
    muls = [p.producer(v) for v in cn_op.inputs]
    if any(m is None or m.kind != "mul" for m in muls):
        return False
    ig = fg = None
    for m in muls:
        for s, t in (tuple(m.inputs), tuple(m.inputs)[::-1]):
            sg = _gate(p, s, "sigmoid")
            if sg is None:
                continue
            tg = _gate(p, t, "tanh")
            if tg is not None and sg[2][0] == tg[2][0] and ig is None:
                ig = (m, sg, tg)
                break
            if tg is None and fg is None:
                fg = (m, sg, t)
                break
    if not ig or not fg or ig[0] is fg[0]:
        return False
    z = ig[1][2][0]
    units = ig[1][2][2]
    if fg[1][2][0] != z or p.size[z] != 4 * units:
        return False
    c_prev = fg[2]
    # tanh(c') and h' = σ(o)∘tanh(c')
    cn = cn_op.outs[0]
    users, _ = p.consumers(cn)
    t_ops = [u for u in users if u.kind == "tanh"]
    if len(t_ops) != 1:
        return False
    t_op = t_ops[0]
    h_users, _ = p.consumers(t_op.outs[0])
    if len(h_users) != 1 or h_users[0].kind != "mul":
        return False
    h_op = h_users[0]
    other = [v for v in h_op.inputs if v != t_op.outs[0]]
    og = _gate(p, other[0], "sigmoid") if len(other) == 1 else None
    if not og or og[2][0] != z:
        return False
    starts = {"i": ig[1][2][1], "f": fg[1][2][1], "g": ig[2][2][1], "o": og[2][1]}
    if sorted(starts.values()) != [0, units, 2 * units, 3 * units]:
        return False
    # z = add_c(add(dense x, dense h), b) (bias optional / folded into a dense)
    chain = []
    zop = p.producer(z)
    bias = np.zeros(4 * units, np.float32)
    if zop is not None and zop.kind == "add_c":
        bias = bias + zop.attrs["c"]
        chain.append(zop)
        zop = p.producer(zop.inputs[0])
    if zop is None or zop.kind != "add":
        return False
    chain.append(zop)
    denses = [p.producer(v) for v in zop.inputs]
    if any(d is None or d.kind != "dense" or d.attrs["act"] != "identity" for d in denses):
        return False
    cand = [d for d in denses if p.size[d.inputs[0]] == units]
    if len(cand) == 2:
        src = _graph_input_of(p, c_prev)
        cand = [d for d in denses if _graph_input_of(p, d.inputs[0]) == src and src is not None]
    if len(cand) != 1:
        raise ConvertError(f"{cn_op.node}: LSTM cell found but its recurrent input is ambiguous")
    dh = cand[0]
    dx = denses[1] if denses[0] is dh else denses[0]
    for d in denses:
        if d.attrs["b"] is not None:
            bias = bias + d.attrs["b"]
    # every intermediate must be private to the cell
    inner = chain + denses + [ig[0], fg[0], ig[1][0], ig[1][1], ig[2][0], ig[2][1], fg[1][0],
                              fg[1][1], og[0], og[1], t_op]
    inner_vals = {v for o in inner for v in o.outs}
    for v in inner_vals:
        users, outs = p.consumers(v)
        if outs or any(u not in inner and u is not cn_op and u is not h_op for u in users):
            raise ConvertError(f"{cn_op.node}: LSTM cell found but an intermediate value is "
                               "used outside it")
    perm = np.concatenate([np.arange(starts[k], starts[k] + units) for k in "ifgo"])
    lstm = Op("lstm", [dx.inputs[0], dh.inputs[0], c_prev], [h_op.outs[0], cn],
              h_op.node, Wx=np.ascontiguousarray(dx.attrs["W"][:, perm]),
              Wh=np.ascontiguousarray(dh.attrs["W"][:, perm]), b=bias[perm].astype(np.float32),
              units=units)
    pos = p.ops.index(h_op)
    p.ops[pos] = lstm
    for o in inner + [cn_op]:
        p.ops.remove(o)
    return True


def find_lstms(p):
    changed = True
    while changed:
        changed = False
        for op in list(p.ops):
            if op.kind == "add" and _try_lstm(p, op):
                changed = True
                break


def _bcast_of(p, vid):
    """vid = gather broadcasting a 1-element value: returns that value's vid, else None."""
    g = p.producer(vid)
    if g is None or g.kind != "gather" or len(g.inputs) != 1 or p.size[g.inputs[0]] != 1:
        return None
    return g.inputs[0]


def find_layer_norms(p):
    for m1 in [o for o in p.ops if o.kind == "mean"]:
        if m1 not in p.ops:
            continue
        x = m1.inputs[0]
        n = p.size[x]
        users, _ = p.consumers(m1.outs[0])
        if len(users) != 1 or users[0].kind != "gather":
            continue
        bm = users[0]
        subs = [u for u in p.consumers(bm.outs[0])[0] if u.kind == "sub" and u.inputs[0] == x]
        if len(subs) != 1:
            continue
        s = subs[0]
        su, _ = p.consumers(s.outs[0])
        sq = [u for u in su if u.kind == "mul" and u.inputs == [s.outs[0], s.outs[0]]]
        dv = [u for u in su if u.kind == "div" and u.inputs[0] == s.outs[0]]
        if len(sq) != 1 or len(dv) != 1 or len(su) != 2:
            continue
        m2 = _single_use(p, sq[0].outs[0])
        if m2 is None or m2.kind != "mean":
            continue
        e = _single_use(p, m2.outs[0])
        if e is None or e.kind != "add_c":
            continue
        r = _single_use(p, e.outs[0])
        if r is None or r.kind != "sqrt":
            continue
        br = _single_use(p, r.outs[0])
        if br is None or br.kind != "gather" or _bcast_of(p, br.outs[0]) != r.outs[0] \
                or dv[0].inputs[1] != br.outs[0]:
            continue
        chain = [m1, bm, s, sq[0], m2, e, r, br, dv[0]]
        last = dv[0]
        gamma = np.ones(n, np.float32)
        beta = np.zeros(n, np.float32)
        nxt = _single_use(p, last.outs[0])
        if nxt is not None and nxt.kind == "mul_c":
            gamma = nxt.attrs["c"].astype(np.float32)
            chain.append(nxt)
            last = nxt
            nxt = _single_use(p, last.outs[0])
        if nxt is not None and nxt.kind == "add_c":
            beta = nxt.attrs["c"].astype(np.float32)
            chain.append(nxt)
            last = nxt
        inner = {v for o in chain for v in o.outs} - {last.outs[0]}
        if any(p.consumers(v)[1] or any(u not in chain for u in p.consumers(v)[0])
               for v in inner):
            continue
        eps = float(e.attrs["c"][0])
        op = Op("layer_norm", [x], [last.outs[0]], m1.node, gamma=gamma, beta=beta, eps=eps)
        p.ops[p.ops.index(last)] = op
        for o in chain:
            if o is not last:
                p.ops.remove(o)


def prune(p):
    """Drops ops whose outputs nobody reads."""
    changed = True
    while changed:
        changed = False
        for op in list(p.ops):
            if all(not any(p.consumers(v)) for v in op.outs):
                p.ops.remove(op)
                changed = True


def check_supported(p):
    for op in p.ops:
        if op.kind not in SUPPORTED:
            raise ConvertError(f"{p.name}: {op.node}: no layer pattern maps it (lowered to "
                               f"'{op.kind}' on {[p.size[v] for v in op.inputs]} elements)")


def optimise(p):
    cse(p)
    fuse_dense(p)
    find_lstms(p)
    cse(p)
    find_layer_norms(p)
    fuse_dense(p)
    prune(p)
    check_supported(p)
    return p
