#!/usr/bin/python3
"""Generate PyTorch reference fixtures for the engine's correctness tests.

Regenerate with (Debian's PyTorch lives in the system interpreter, not pyenv's python3):

    /usr/bin/python3 tools/make_fixtures.py

It writes, atomically (temp file + rename), and deterministically (fixed seeds):

    test/fixtures/engine/ops.json            per-op forward outputs and gradients
    test/fixtures/engine/optim.json          AdamW, clip_grad_norm_, LR schedules
    test/fixtures/engine/encoder_block.json  one pre-LN Transformer encoder block
    test/fixtures/bert/                      a tiny random BERT (BertForMaskedLM) as HF saves it
                                             (config.json, model.safetensors, model_f16.safetensors)
                                             and its outputs (io.json); see the BERT section below
    test/fixtures/sparse/moe.json            Switch mixture-of-experts layer (top-k routing, capacity,
                                             load-balancing and z losses); see the sparse section
    test/fixtures/sparse/skills.json         SkillNet skill layer (mean of the active skill FFNs)

Conventions
-----------
* A tensor is {"shape": [...], "dtype": "float32" | "int32", "data": [flat row-major]}.
  A scalar has shape [] and one data value.
* Non-finite numbers (only -inf in additive masks and log-softmax outputs) are written as the
  JSON strings "-Infinity" / "Infinity" / "NaN", since JSON has no literal for them;
  `Number(v)` in JavaScript maps them back. Everything else is a plain JSON number.
* Inputs are drawn in float32 and written with their exact float32 values. References
  (outputs and gradients) in ops.json and encoder_block.json are computed in float64 from those
  float32 values, so they carry no float32 rounding noise; they are still tagged
  dtype "float32" (the logical dtype) but their digits are float64.
* Gradients are those of (out * upstream).sum() with respect to each float input
  (i.e. a vector-Jacobian product with `upstream`). For ops with a list output, upstream is
  a list aligned with outputs.out. For topk, upstream goes with outputs.values (indices are not
  differentiable). For masked logSoftmax, upstream is zero where the mask is -inf, so the
  reference does not depend on what an implementation does with gradient flowing into -inf
  log-probabilities.
* optim.json's AdamW and clipGradNorm references are float32, exactly as torch computes
  them (that is what the engine's float32 optimiser is compared against).
"""

import json
import math
import os
import tempfile

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "engine")

torch.set_num_threads(1)  # determinism of reductions is not needed (float64), but keep it simple


# ----------------------------------------------------------------------------------- helpers

def _num(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def T(t, dtype=None):
    """Serialise a tensor. float tensors -> "float32" (values written at full double precision
    of whatever the tensor holds: exact float32 values for float32 tensors, float64 values for
    references); integer/bool tensors -> "int32"."""
    t = t.detach().cpu()
    if dtype is None:
        dtype = "float32" if t.is_floating_point() else "int32"
    if dtype == "int32":
        data = [int(v) for v in t.reshape(-1).tolist()]
    else:
        data = [_num(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def TL(ts):
    return [T(t) for t in ts]


def ser(x):
    if isinstance(x, (list, tuple)):
        return TL(x)
    return T(x)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(text) + 1


def assert_close(a, b, tol, what):
    a = a.detach().double()
    b = b.detach().double()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    fin = torch.isfinite(b)
    assert torch.equal(torch.isfinite(a), fin), what
    assert torch.equal(a[~fin], b[~fin]), what
    err = (a[fin] - b[fin]).abs().max().item() if fin.any() else 0.0
    assert err <= tol, f"{what}: max abs err {err} > {tol}"


# ---------------------------------------------------------------------------------- ops.json

class OpCases:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.cases = []
        self.names = set()

    def randn(self, *shape, scale=1.0):
        return (torch.randn(tuple(shape), generator=self.g) * scale).float()

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g).to(torch.int32)

    def add(self, name, op, attrs, inputs, fn, grad_args=None, no_grad=False,
            upstream_mask=None, outputs_fn=None):
        """inputs: ordered dict argName -> float32 tensor | int32 tensor | list of tensors.
        fn(**float64_inputs) -> output tensor | list of tensors | dict (outputs_fn handles).
        grad_args: names of inputs to differentiate (default: all float inputs)."""
        assert name not in self.names, name
        self.names.add(name)
        # float64 copies with requires_grad where needed
        if grad_args is None:
            grad_args = [k for k, v in inputs.items()
                         if (isinstance(v, (list, tuple)) and v[0].is_floating_point())
                         or (not isinstance(v, (list, tuple)) and v.is_floating_point())]
        if no_grad:
            grad_args = []
        d64 = {}
        leaves = []
        for k, v in inputs.items():
            if isinstance(v, (list, tuple)):
                vs = [x.double().requires_grad_(k in grad_args) for x in v]
                d64[k] = vs
                if k in grad_args:
                    leaves.extend(vs)
            elif v.is_floating_point():
                x = v.double().requires_grad_(k in grad_args)
                d64[k] = x
                if k in grad_args:
                    leaves.append(x)
            else:
                d64[k] = v.long()
        case = {"name": name, "op": op, "attrs": attrs,
                "inputs": {k: ser(v) for k, v in inputs.items()}}
        res = fn(**d64)
        if outputs_fn is not None:
            outputs, diff_out = outputs_fn(res)
        else:
            outputs, diff_out = {"out": res}, res
        if not no_grad:
            outs = list(diff_out) if isinstance(diff_out, (list, tuple)) else [diff_out]
            ups = [self.randn(*o.shape) for o in outs]
            if upstream_mask is not None:
                ups = [torch.where(upstream_mask(o), torch.zeros_like(u), u) for o, u in zip(outs, ups)]
            case["upstream"] = TL(ups) if isinstance(diff_out, (list, tuple)) else T(ups[0])
            gs = torch.autograd.grad(outs, leaves, grad_outputs=[u.double() for u in ups])
            grads = {}
            i = 0
            for k in inputs:
                if k not in grad_args:
                    continue
                if isinstance(d64[k], list):
                    n = len(d64[k])
                    grads[k] = TL(gs[i:i + n])
                    i += n
                else:
                    grads[k] = T(gs[i])
                    i += 1
            case["grads"] = grads
        case["outputs"] = {}
        for k, v in outputs.items():
            if isinstance(v, (list, tuple)):
                case["outputs"][k] = TL(v)
            else:
                case["outputs"][k] = T(v)
        self.cases.append(case)


def make_ops():
    c = OpCases(20240501)
    r = c.randn

    # --- matmul: 2-D with all trans combos, plus 3-D a [B,T,K] x b [K,N]
    M, K, N = 3, 4, 5
    for ta in (False, True):
        for tb in (False, True):
            a = r(K, M) if ta else r(M, K)
            b = r(N, K) if tb else r(K, N)
            c.add(f"matmul_{'T' if ta else 'N'}{'T' if tb else 'N'}", "matmul",
                  {"transA": ta, "transB": tb}, {"a": a, "b": b},
                  lambda a, b, ta=ta, tb=tb: (a.t() if ta else a) @ (b.t() if tb else b))
    c.add("matmul_3d_NN", "matmul", {"transA": False, "transB": False},
          {"a": r(2, 3, 4), "b": r(4, 5)},
          lambda a, b: (a.reshape(-1, a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[-1]))

    # --- bmm: trans on the last two dims
    B = 2
    for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
        a = r(B, K, M) if ta else r(B, M, K)
        b = r(B, N, K) if tb else r(B, K, N)
        c.add(f"bmm_{'T' if ta else 'N'}{'T' if tb else 'N'}", "bmm",
              {"transA": ta, "transB": tb}, {"a": a, "b": b},
              lambda a, b, ta=ta, tb=tb: torch.matmul(a.transpose(-1, -2) if ta else a,
                                                      b.transpose(-1, -2) if tb else b))
    c.add("bmm_4d_NN", "bmm", {"transA": False, "transB": False},
          {"a": r(2, 3, 3, 4), "b": r(2, 3, 4, 5)}, lambda a, b: torch.matmul(a, b))

    # --- linear
    c.add("linear_2d", "linear", {}, {"x": r(3, 4), "w": r(5, 4), "b": r(5)},
          lambda x, w, b: F.linear(x, w, b))
    c.add("linear_3d", "linear", {}, {"x": r(2, 3, 4), "w": r(6, 4), "b": r(6)},
          lambda x, w, b: F.linear(x, w, b))

    # --- elementwise binary with broadcasting
    R, C = 3, 4
    bshapes = [("same", (R, C), (R, C)), ("row", (R, C), (C,)), ("scalar1", (R, C), (1,)),
               ("col", (R, C), (R, 1)), ("bcast", (2, 1, 3), (4, 1))]
    binfns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    for op, fn in binfns.items():
        for tag, sa, sb in bshapes:
            a = r(*sa)
            b = r(*sb)
            if op == "div":
                sign = torch.where(r(*sb) >= 0, 1.0, -1.0).float()
                b = (sign * (b.abs() + 0.5)).float()
            c.add(f"{op}_{tag}", op, {}, {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b))

    # --- scale
    c.add("scale", "scale", {"s": -0.375}, {"a": r(3, 4)}, lambda a: a * -0.375)

    # --- sum / mean
    for op in ("sum", "mean"):
        for axis, keep in ((0, False), (1, False), (-1, True), (-1, False), (None, False)):
            x = r(2, 3, 4)
            if axis is None:
                f = (lambda a: a.sum()) if op == "sum" else (lambda a: a.mean())
            else:
                f = ((lambda a, axis=axis, keep=keep: a.sum(dim=axis, keepdim=keep)) if op == "sum"
                     else (lambda a, axis=axis, keep=keep: a.mean(dim=axis, keepdim=keep)))
            tag = "all" if axis is None else f"axis{axis}".replace("-", "m")
            c.add(f"{op}_{tag}{'_keep' if keep else ''}", op, {"axis": axis, "keepdim": keep},
                  {"a": x}, f)

    # --- transposeHeads
    c.add("transposeHeads", "transposeHeads", {}, {"a": r(2, 3, 4, 5)},
          lambda a: a.transpose(1, 2).contiguous())

    # --- concat
    c.add("concat_axis0", "concat", {"axis": 0}, {"xs": [r(2, 3), r(1, 3), r(3, 3)]},
          lambda xs: torch.cat(xs, 0))
    c.add("concat_axism1", "concat", {"axis": -1}, {"xs": [r(2, 3, 2), r(2, 3, 1), r(2, 3, 4)]},
          lambda xs: torch.cat(xs, -1))

    # --- split
    c.add("split_axism1", "split", {"axis": -1, "sizes": [1, 2, 3]}, {"a": r(4, 6)},
          lambda a: list(torch.split(a, [1, 2, 3], dim=-1)))
    c.add("split_axis0", "split", {"axis": 0, "sizes": [1, 3]}, {"a": r(4, 2, 3)},
          lambda a: list(torch.split(a, [1, 3], dim=0)))

    # --- activations: values around 0 and large |x|
    special = torch.tensor([0.0, 1e-3, -1e-3, 0.25, -0.25, 3.0, -3.0, 6.0, -6.0, 12.0, -12.0, 40.0,
                            -40.0, 1.5, -1.5, 0.0], dtype=torch.float32)
    acts = {"gelu": lambda x: F.gelu(x), "geluTanh": lambda x: F.gelu(x, approximate="tanh"),
            "relu": torch.relu, "tanh": torch.tanh}
    for op, fn in acts.items():
        x = torch.cat([special, r(16, scale=2.0)]).reshape(4, 8).float()
        c.add(op, op, {}, {"x": x}, fn)

    # --- layerNorm
    eps = 1e-5
    for tag, shape in (("2d", (4, 8)), ("3d", (2, 3, 8))):
        D = shape[-1]
        x = r(*shape, scale=1.5) + 0.7
        c.add(f"layerNorm_{tag}", "layerNorm", {"eps": eps},
              {"x": x.float(), "gamma": r(D) * 0.5 + 1.0, "beta": r(D) * 0.5},
              lambda x, gamma, beta: F.layer_norm(x, (x.shape[-1],), gamma, beta, eps))

    # --- softmax / logSoftmax with optional additive masks
    Bm, H, Tm = 2, 2, 4
    pad = torch.zeros(Bm, 1, 1, Tm)
    pad[1, 0, 0, -2:] = float("-inf")   # batch 1: last 2 keys padded; batch 0: none
    causal = torch.triu(torch.full((Tm, Tm), float("-inf")), diagonal=1)
    for op, fn in (("softmax", lambda z: torch.softmax(z, -1)),
                   ("logSoftmax", lambda z: torch.log_softmax(z, -1))):
        c.add(f"{op}_nomask", op, {}, {"x": r(3, 5, scale=2.0)}, lambda x, fn=fn: fn(x))
        for tag, mask in (("padmask", pad), ("causal", causal)):
            um = (lambda o: torch.isinf(o)) if op == "logSoftmax" else None
            c.add(f"{op}_{tag}", op, {}, {"x": r(Bm, H, Tm, Tm, scale=2.0), "mask": mask.float()},
                  lambda x, mask, fn=fn: fn(x + mask), grad_args=["x"], upstream_mask=um)

    # --- embedding
    ids = torch.tensor([[1, 4, 4, 0, 6], [2, 1, 1, 5, 4]], dtype=torch.int32)
    c.add("embedding", "embedding", {}, {"ids": ids, "table": r(7, 4)},
          lambda ids, table: F.embedding(ids, table), grad_args=["table"])

    # --- gatherRows
    idx = torch.tensor([3, 0, 3, 5, 1, 1, 2, 3], dtype=torch.int32)
    c.add("gatherRows", "gatherRows", {}, {"x": r(6, 4), "idx": idx},
          lambda x, idx: x[idx], grad_args=["x"])

    # --- scatterAddRows (rows 3 never written)
    idx = torch.tensor([0, 2, 2, 4, 1, 0, 2], dtype=torch.int32)
    c.add("scatterAddRows", "scatterAddRows", {"rows": 5}, {"src": r(7, 3), "idx": idx},
          lambda src, idx: torch.zeros(5, src.shape[1], dtype=src.dtype).index_add(0, idx, src),
          grad_args=["src"])

    # --- scatterAddRowsScaled (the MoE combine: rows weighted by their gates; row 1 never written)
    idx = torch.tensor([0, 2, 2, 4, 3, 0, 2], dtype=torch.int32)
    c.add("scatterAddRowsScaled", "scatterAddRowsScaled", {"rows": 5},
          {"src": r(7, 3), "scale": r(7, 1), "idx": idx},
          lambda src, scale, idx: torch.zeros(5, src.shape[1], dtype=src.dtype).index_add(0, idx, src * scale),
          grad_args=["src", "scale"])

    # --- crossEntropy
    def ce(ls):
        def f(logits, targets):
            V = logits.shape[-1]
            return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100,
                                   label_smoothing=ls, reduction="mean")
        return f
    V = 5
    c.add("crossEntropy_plain", "crossEntropy", {"ignoreIndex": -100, "labelSmoothing": 0.0},
          {"logits": r(6, V, scale=2.0), "targets": c.randint(0, V, 6)}, ce(0.0), grad_args=["logits"])
    tg = c.randint(0, V, 6)
    tg[1] = -100
    tg[4] = -100
    c.add("crossEntropy_ignore", "crossEntropy", {"ignoreIndex": -100, "labelSmoothing": 0.0},
          {"logits": r(6, V, scale=2.0), "targets": tg}, ce(0.0), grad_args=["logits"])
    tg = c.randint(0, V, 6)
    tg[0] = -100
    tg[3] = -100
    c.add("crossEntropy_smooth_ignore", "crossEntropy", {"ignoreIndex": -100, "labelSmoothing": 0.1},
          {"logits": r(6, V, scale=2.0), "targets": tg}, ce(0.1), grad_args=["logits"])
    tg = c.randint(0, V, 2, 3)
    tg[1, 2] = -100
    c.add("crossEntropy_3d", "crossEntropy", {"ignoreIndex": -100, "labelSmoothing": 0.0},
          {"logits": r(2, 3, V, scale=2.0), "targets": tg}, ce(0.0), grad_args=["logits"])

    # --- mse
    c.add("mse", "mse", {}, {"a": r(3, 4), "b": r(3, 4)}, lambda a, b: F.mse_loss(a, b))

    # --- argmax (no grads); randn values have no ties, asserted
    x = r(4, 7)
    assert all(len(set(row)) == len(row) for row in x.tolist())
    c.add("argmax", "argmax", {}, {"x": x}, lambda x: x.argmax(-1).to(torch.int32), no_grad=True)

    # --- topk (values carry a gradient; indices do not)
    x = r(3, 8)
    assert all(len(set(row)) == len(row) for row in x.tolist())

    def topk_out(res):
        vals, inds = res
        return {"values": vals, "indices": inds.to(torch.int32)}, vals
    c.add("topk_k3", "topk", {"k": 3}, {"x": x}, lambda x: torch.topk(x, 3, dim=-1, sorted=True),
          outputs_fn=topk_out)

    # sanity checks of a few hand-written definitions the engine follows
    _check_cross_entropy_formula()
    return {"cases": c.cases}


def _check_cross_entropy_formula():
    """label smoothing eps with ignore_index, mean reduction:
    loss = sum_{r not ignored} [(1-eps)*(lse_r - x_r[t_r]) + eps*(lse_r - mean_c x_r[c])] / n_valid"""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, -100, 3, 4, -100, 2])
    ref = F.cross_entropy(x, t, ignore_index=-100, label_smoothing=0.1)
    keep = t != -100
    lse = torch.logsumexp(x[keep], -1)
    own = ((0.9 * (lse - x[keep].gather(1, t[keep][:, None])[:, 0])
            + 0.1 * (lse - x[keep].mean(-1))).sum() / keep.sum())
    assert abs(ref.item() - own.item()) < 1e-12, (ref.item(), own.item())


# -------------------------------------------------------------------------------- optim.json

def make_optim():
    g = torch.Generator().manual_seed(31337)
    out = {}

    # AdamW, float32, exactly torch's single-tensor implementation
    cases = []
    for name, lr, betas, eps, wd in (("adamw_wd", 1e-2, (0.9, 0.999), 1e-8, 0.01),
                                     ("adamw_nowd", 3e-3, (0.8, 0.95), 1e-6, 0.0)):
        steps = 5
        p0 = torch.randn(3, 4, generator=g)
        grads = [torch.randn(3, 4, generator=g) * (0.5 + s) for s in range(steps)]
        p = torch.nn.Parameter(p0.clone())
        opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd,
                                amsgrad=False, foreach=False, maximize=False)
        params = []
        for s in range(steps):
            p.grad = grads[s].clone()
            opt.step()
            params.append(p.detach().clone())
        st = opt.state[p]
        cases.append({"name": name, "lr": lr, "betas": list(betas), "eps": eps, "weightDecay": wd,
                      "steps": steps, "param0": T(p0), "grads": TL(grads), "params": TL(params),
                      "exp_avg": T(st["exp_avg"]), "exp_avg_sq": T(st["exp_avg_sq"])})
    out["adamw"] = cases

    # clip_grad_norm_ (norm 2), float32
    cases = []
    for name, max_norm, scale in (("clips", 1.0, 1.0), ("noclip", 100.0, 1.0)):
        shapes = [(3, 4), (5,), (2, 2, 3)]
        gs = [torch.randn(*s, generator=g) * scale for s in shapes]
        ps = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
        for p, gr in zip(ps, gs):
            p.grad = gr.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=2.0)
        clipped = [p.grad.detach().clone() for p in ps]
        if name == "clips":
            assert total.item() > max_norm
        else:
            assert total.item() < max_norm
        cases.append({"name": name, "maxNorm": max_norm, "grads": TL(gs),
                      "totalNorm": float(total.item()), "clipped": TL(clipped)})
    out["clipGradNorm"] = cases

    # HF-style schedules via LambdaLR
    total, warmup = 100, 10

    def linear(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    def cosine(step, num_cycles=0.5):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))

    sched = {"total": total, "warmup": warmup, "peakLr": 1.0, "numCycles": 0.5}
    for name, fn in (("linear", linear), ("cosine", cosine)):
        w = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([w], lr=1.0)
        s = torch.optim.lr_scheduler.LambdaLR(opt, fn)
        lrs = [opt.param_groups[0]["lr"]]          # step 0
        for _ in range(total):
            opt.step()
            s.step()
            lrs.append(opt.param_groups[0]["lr"])  # steps 1..total
        assert len(lrs) == total + 1
        sched[name] = lrs
    out["schedules"] = sched
    return out


# ------------------------------------------------------------------------ encoder_block.json

PARAM_NAMES = ["ln1.weight", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.out.weight",
               "attn.out.bias", "ln2.weight", "ln2.bias", "ffn.fc1.weight", "ffn.fc1.bias",
               "ffn.fc2.weight", "ffn.fc2.bias"]


def block_forward(x, P, add_mask, heads, eps):
    """Pre-LN encoder block. x [B,T,D]; add_mask [B,1,1,T] additive (0 / -inf)."""
    B, T_, D = x.shape
    hd = D // heads
    a = F.layer_norm(x, (D,), P["ln1.weight"], P["ln1.bias"], eps)
    qkv = F.linear(a, P["attn.qkv.weight"], P["attn.qkv.bias"])
    q, k, v = qkv.split(D, dim=-1)
    q, k, v = [t.reshape(B, T_, heads, hd).transpose(1, 2) for t in (q, k, v)]
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + add_mask
    p = torch.softmax(scores, dim=-1)
    ctx = (p @ v).transpose(1, 2).reshape(B, T_, D)
    h = x + F.linear(ctx, P["attn.out.weight"], P["attn.out.bias"])
    f = F.linear(F.gelu(F.linear(F.layer_norm(h, (D,), P["ln2.weight"], P["ln2.bias"], eps),
                                 P["ffn.fc1.weight"], P["ffn.fc1.bias"])),
                 P["ffn.fc2.weight"], P["ffn.fc2.bias"])
    return h + f


def make_encoder_block():
    g = torch.Generator().manual_seed(4242)
    B, T_, D, H, FF, eps = 2, 5, 16, 4, 32, 1e-5

    def rn(*s, scale=1.0):
        return (torch.randn(tuple(s), generator=g) * scale).float()

    shapes = {"ln1.weight": (D,), "ln1.bias": (D,), "attn.qkv.weight": (3 * D, D),
              "attn.qkv.bias": (3 * D,), "attn.out.weight": (D, D), "attn.out.bias": (D,),
              "ln2.weight": (D,), "ln2.bias": (D,), "ffn.fc1.weight": (FF, D), "ffn.fc1.bias": (FF,),
              "ffn.fc2.weight": (D, FF), "ffn.fc2.bias": (D,)}
    P32 = {}
    for n in PARAM_NAMES:
        if n.endswith(".weight") and n.startswith(("attn", "ffn")):
            P32[n] = rn(*shapes[n], scale=0.2)
        elif n.startswith("ln") and n.endswith(".weight"):
            P32[n] = rn(*shapes[n], scale=0.2) + 1.0
        else:
            P32[n] = rn(*shapes[n], scale=0.2)
    x32 = rn(B, T_, D)
    pad = torch.ones(B, T_, dtype=torch.int32)
    pad[1, -2:] = 0
    up32 = rn(B, T_, D)

    add_mask = torch.zeros(B, 1, 1, T_, dtype=torch.float64)
    add_mask[pad[:, None, None, :] == 0] = float("-inf")

    x = x32.double().requires_grad_(True)
    P = {n: t.double().requires_grad_(True) for n, t in P32.items()}
    y = block_forward(x, P, add_mask, H, eps)
    leaves = [x] + [P[n] for n in PARAM_NAMES]
    gr = torch.autograd.grad(y, leaves, grad_outputs=up32.double())

    # cross-check against torch.nn.TransformerEncoderLayer (float64, train mode => no fast path,
    # dropout 0 => deterministic)
    layer = torch.nn.TransformerEncoderLayer(D, H, dim_feedforward=FF, dropout=0.0, activation="gelu",
                                             layer_norm_eps=eps, batch_first=True, norm_first=True,
                                             dtype=torch.float64)
    layer.train()
    with torch.no_grad():
        layer.norm1.weight.copy_(P32["ln1.weight"])
        layer.norm1.bias.copy_(P32["ln1.bias"])
        layer.self_attn.in_proj_weight.copy_(P32["attn.qkv.weight"])
        layer.self_attn.in_proj_bias.copy_(P32["attn.qkv.bias"])
        layer.self_attn.out_proj.weight.copy_(P32["attn.out.weight"])
        layer.self_attn.out_proj.bias.copy_(P32["attn.out.bias"])
        layer.norm2.weight.copy_(P32["ln2.weight"])
        layer.norm2.bias.copy_(P32["ln2.bias"])
        layer.linear1.weight.copy_(P32["ffn.fc1.weight"])
        layer.linear1.bias.copy_(P32["ffn.fc1.bias"])
        layer.linear2.weight.copy_(P32["ffn.fc2.weight"])
        layer.linear2.bias.copy_(P32["ffn.fc2.bias"])
    x2 = x32.double().requires_grad_(True)
    y2 = layer(x2, src_key_padding_mask=(pad == 0))
    assert_close(y2, y, 1e-12, "encoder block vs nn.TransformerEncoderLayer (forward)")
    mod_params = [layer.norm1.weight, layer.norm1.bias, layer.self_attn.in_proj_weight,
                  layer.self_attn.in_proj_bias, layer.self_attn.out_proj.weight,
                  layer.self_attn.out_proj.bias, layer.norm2.weight, layer.norm2.bias,
                  layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias]
    gr2 = torch.autograd.grad(y2, [x2] + mod_params, grad_outputs=up32.double())
    for n, a_, b_ in zip(["x"] + PARAM_NAMES, gr2, gr):
        assert_close(a_, b_, 1e-10, f"encoder block grad {n} vs nn.TransformerEncoderLayer")

    return {
        "config": {"B": B, "T": T_, "dModel": D, "heads": H, "ffn": FF, "eps": eps,
                   "activation": "gelu", "normFirst": True},
        "inputs": {"x": T(x32), "padMask": T(pad)},
        "params": {n: T(P32[n]) for n in PARAM_NAMES},
        "upstream": T(up32),
        "outputs": {"y": T(y)},
        "grads": dict([("x", T(gr[0]))] + [(n, T(t)) for n, t in zip(PARAM_NAMES, gr[1:])]),
    }


# --------------------------------------------------------------------- test/fixtures/bert/
#
# A tiny BERT (BertForMaskedLM) with random weights, saved the way Hugging Face saves one
# (parameter names and layouts of transformers' modeling_bert, safetensors + config.json), plus
# its outputs: the fixture for checkpoint import. Written files (deterministic, seed 1234):
#
#   test/fixtures/bert/config.json            HF BertConfig keys
#   test/fixtures/bert/model.safetensors      F32, HF names, __metadata__ {"format": "pt"}
#   test/fixtures/bert/model_f16.safetensors  the same weights rounded to F16 (round to nearest even)
#   test/fixtures/bert/io.json                inputs and eval-mode reference outputs
#
# io.json: {"config": <config.json>, "pathwiseConfig": {...}, "inputs": {input_ids,
# token_type_ids, attention_mask} (int32 [2, 9]; row 1 is padded with pad id 0 in its last 3
# positions), "outputs": {last_hidden_state [2,9,16], mlm_logits [2,9,120] (model.safetensors),
# last_hidden_state_f16, mlm_logits_f16 (model_f16.safetensors, i.e. computed from the
# f16-rounded weights widened to f32)}}. Outputs are eval mode (no dropout), computed in
# float64 from the stored weights, for every position, padded positions included (a padded
# query row still attends over the unpadded keys, as in HF). mlm_logits is the head applied to
# every position (masked-LM training gathers the masked positions first; per-position ops, so
# the same numbers).
#
# BERT details an importer has to match:
#   * post-LN (norm after each residual add), LayerNorm on the embedding sum, no final norm;
#     layer_norm_eps 1e-12 everywhere, including the LM head's transform LayerNorm;
#   * hidden_act "gelu" = exact erf GELU (HF's "gelu_new" / "gelu_pytorch_tanh" would be tanh);
#     the LM head's transform uses the same hidden_act;
#   * attention scores q k^T / sqrt(head_dim), heads are contiguous head_dim slices of the
#     hidden dim (HF's view(B, T, H, hd));
#   * position ids 0..T-1 (absolute), token type ids default 0;
#   * key padding mask: HF adds (1 - attention_mask) * torch.finfo(dtype).min (older versions:
#     -10000.0) to the scores. The reference here uses -inf (0 for kept keys); the script asserts
#     that finfo.min and -10000.0 give the same outputs (exp underflows to exactly 0 either
#     way, as long as a row has at least one unpadded key);
#   * decoder: logits = transform(h) @ word_embeddings^T + cls.predictions.bias (tied;
#     cls.predictions.decoder.weight is a copy of the word embeddings, decoder.bias of the bias).
#
# Name mapping HF -> Pathwise (hd: hidden size; torch Linear layout [out, in] on both sides):
#   bert.embeddings.word_embeddings.weight          -> embeddings.word.weight        [V, d]
#   bert.embeddings.position_embeddings.weight      -> embeddings.position.weight    [P, d]
#   bert.embeddings.token_type_embeddings.weight    -> embeddings.type.weight        [2, d]
#   bert.embeddings.LayerNorm.{weight,bias}         -> embeddings.norm.{weight,bias}
#   bert.encoder.layer.{i}.attention.self.{query,key,value}.weight [d, d] each
#                                                   -> layers.{i}.attn.qkv.weight [3d, d]
#                                                      = cat([query, key, value], dim 0)
#   bert.encoder.layer.{i}.attention.self.{query,key,value}.bias [d] each
#                                                   -> layers.{i}.attn.qkv.bias [3d] (same order)
#   bert.encoder.layer.{i}.attention.output.dense.* -> layers.{i}.attn.out.*
#   bert.encoder.layer.{i}.attention.output.LayerNorm.* -> layers.{i}.ln1.*
#   bert.encoder.layer.{i}.intermediate.dense.*     -> layers.{i}.ffn.fc1.*          [F, d], [F]
#   bert.encoder.layer.{i}.output.dense.*           -> layers.{i}.ffn.fc2.*          [d, F], [d]
#   bert.encoder.layer.{i}.output.LayerNorm.*       -> layers.{i}.ln2.*
#   cls.predictions.transform.dense.*               -> lm_head.dense.*
#   cls.predictions.transform.LayerNorm.*           -> lm_head.norm.*
#   cls.predictions.bias                            -> lm_head.bias                  [V]
#   cls.predictions.decoder.weight                  -> (tied: embeddings.word.weight; dropped)
#   cls.predictions.decoder.bias                    -> (tied: lm_head.bias; dropped)
#   bert.pooler.dense.*                             -> (unused by masked LM; dropped)
# HF config -> Pathwise: vocab_size -> vocabSize, max_position_embeddings -> maxPositions,
# type_vocab_size -> typeVocabSize, hidden_size -> dModel, num_hidden_layers -> layers,
# num_attention_heads -> heads, intermediate_size -> ffn, hidden_act "gelu" -> activation "gelu",
# hidden_dropout_prob -> dropout, attention_probs_dropout_prob -> attentionDropout,
# layer_norm_eps -> layerNormEps, initializer_range -> initStd, normPlacement "post".
# (Real checkpoints may differ: save_pretrained usually leaves out the tied
# cls.predictions.decoder.*; BertForMaskedLM has no pooler, Google's pretraining checkpoints
# have it plus cls.seq_relationship.*; older files carry bert.embeddings.position_ids (I64) and
# old TF conversions LayerNorm.gamma/beta instead of weight/bias.)

BERT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "bert")

BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "model_type": "bert",
    "vocab_size": 120,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 32,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 24,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "initializer_range": 0.02,
    "position_embedding_type": "absolute",
}


class _HFBertEmbeddings(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = torch.nn.Embedding(c["vocab_size"], c["hidden_size"],
                                                  padding_idx=c["pad_token_id"])
        self.position_embeddings = torch.nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = torch.nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = torch.nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = torch.nn.Dropout(c["hidden_dropout_prob"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids, token_type_ids):
        T_ = input_ids.shape[1]
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(self.position_ids[:, :T_])
        return self.dropout(self.LayerNorm(e))


class _HFBertSelfAttention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.h = c["num_attention_heads"]
        self.hd = d // self.h
        self.query = torch.nn.Linear(d, d)
        self.key = torch.nn.Linear(d, d)
        self.value = torch.nn.Linear(d, d)
        self.dropout = torch.nn.Dropout(c["attention_probs_dropout_prob"])

    def _heads(self, x):
        B, T_, _ = x.shape
        return x.view(B, T_, self.h, self.hd).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd) + ext_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class _HFBertSelfOutput(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = torch.nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = torch.nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = torch.nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dropout(self.dense(h)) + inp)


class _HFBertAttention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = _HFBertSelfAttention(c)
        self.output = _HFBertSelfOutput(c)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class _HFBertIntermediate(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = torch.nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # hidden_act "gelu": exact erf


class _HFBertOutput(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = torch.nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = torch.nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = torch.nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, inp):
        return self.LayerNorm(self.dropout(self.dense(h)) + inp)


class _HFBertLayer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = _HFBertAttention(c)
        self.intermediate = _HFBertIntermediate(c)
        self.output = _HFBertOutput(c)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class _HFBertEncoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = torch.nn.ModuleList([_HFBertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class _HFBertPooler(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = torch.nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class _HFBertModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = _HFBertEmbeddings(c)
        self.encoder = _HFBertEncoder(c)
        self.pooler = _HFBertPooler(c)

    def forward(self, input_ids, token_type_ids, attention_mask, mask_value):
        # HF's get_extended_attention_mask: [B, 1, 1, T], (1 - mask) * finfo(dtype).min
        m = attention_mask[:, None, None, :].to(self.embeddings.LayerNorm.weight.dtype)
        if mask_value == float("-inf"):
            ext = torch.zeros_like(m).masked_fill(m == 0, float("-inf"))
        else:
            ext = (1.0 - m) * mask_value
        return self.encoder(self.embeddings(input_ids, token_type_ids), ext)


class _HFBertPredictionHeadTransform(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = torch.nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = torch.nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h):
        return self.LayerNorm(F.gelu(self.dense(h)))


class _HFBertLMPredictionHead(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = _HFBertPredictionHeadTransform(c)
        self.decoder = torch.nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.bias = torch.nn.Parameter(torch.zeros(c["vocab_size"]))
        self.decoder.bias = self.bias  # tied, as in HF

    def forward(self, h):
        return self.decoder(self.transform(h))


class _HFBertOnlyMLMHead(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = _HFBertLMPredictionHead(c)

    def forward(self, h):
        return self.predictions(h)


class _HFBertForMaskedLM(torch.nn.Module):
    """transformers' BertForMaskedLM, eval-mode forward, with its parameter names and layouts
    (plus the pooler: Google's checkpoints carry it; it does not touch the MLM outputs)."""

    def __init__(self, c):
        super().__init__()
        self.bert = _HFBertModel(c)
        self.cls = _HFBertOnlyMLMHead(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tied

    def forward(self, input_ids, token_type_ids, attention_mask, mask_value=float("-inf")):
        h = self.bert(input_ids, token_type_ids, attention_mask, mask_value)
        return h, self.cls(h)


def bert_to_pathwise(sd, layers):
    """HF BertForMaskedLM state dict -> Pathwise encoder + lm_head parameters (see the table above)."""
    P = {
        "embeddings.word.weight": sd["bert.embeddings.word_embeddings.weight"],
        "embeddings.position.weight": sd["bert.embeddings.position_embeddings.weight"],
        "embeddings.type.weight": sd["bert.embeddings.token_type_embeddings.weight"],
        "embeddings.norm.weight": sd["bert.embeddings.LayerNorm.weight"],
        "embeddings.norm.bias": sd["bert.embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        hf = f"bert.encoder.layer.{i}."
        pw = f"layers.{i}."
        for s in ("weight", "bias"):
            P[pw + "attn.qkv." + s] = torch.cat([sd[hf + f"attention.self.{n}.{s}"]
                                                 for n in ("query", "key", "value")], 0)
            P[pw + "attn.out." + s] = sd[hf + "attention.output.dense." + s]
            P[pw + "ln1." + s] = sd[hf + "attention.output.LayerNorm." + s]
            P[pw + "ffn.fc1." + s] = sd[hf + "intermediate.dense." + s]
            P[pw + "ffn.fc2." + s] = sd[hf + "output.dense." + s]
            P[pw + "ln2." + s] = sd[hf + "output.LayerNorm." + s]
    for s in ("weight", "bias"):
        P["lm_head.dense." + s] = sd["cls.predictions.transform.dense." + s]
        P["lm_head.norm." + s] = sd["cls.predictions.transform.LayerNorm." + s]
    P["lm_head.bias"] = sd["cls.predictions.bias"]
    return P


def pathwise_encoder_mlm(P, cfg, ids, type_ids, add_mask):
    """The Pathwise encoder as specified (eval mode): embeddings (+ norm if post), blocks with
    packed qkv, final norm if pre; LM head on every position. add_mask: additive [B, 1, 1, T]."""
    d, H, eps = cfg["dModel"], cfg["heads"], cfg["layerNormEps"]
    hd = d // H
    B, T_ = ids.shape

    def ln(x, name):
        return F.layer_norm(x, (d,), P[name + ".weight"], P[name + ".bias"], eps)

    def lin(x, name):
        return F.linear(x, P[name + ".weight"], P[name + ".bias"])

    x = (P["embeddings.word.weight"][ids] + P["embeddings.position.weight"][torch.arange(T_)]
         + P["embeddings.type.weight"][type_ids])
    post = cfg["normPlacement"] == "post"
    if post:
        x = ln(x, "embeddings.norm")

    def attn(a, pre):
        q, k, v = lin(a, pre + "attn.qkv").split(d, dim=-1)
        q, k, v = [t.reshape(B, T_, H, hd).transpose(1, 2) for t in (q, k, v)]
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + add_mask, dim=-1)
        return lin((p @ v).transpose(1, 2).reshape(B, T_, d), pre + "attn.out")

    def ffn(a, pre):
        return lin(F.gelu(lin(a, pre + "ffn.fc1")), pre + "ffn.fc2")

    for i in range(cfg["layers"]):
        pre = f"layers.{i}."
        if post:
            h = ln(x + attn(x, pre), pre + "ln1")
            x = ln(h + ffn(h, pre), pre + "ln2")
        else:
            h = x + attn(ln(x, pre + "ln1"), pre)
            x = h + ffn(ln(h, pre + "ln2"), pre)
    if not post:
        x = ln(x, "final_norm")
    t = ln(F.gelu(lin(x, "lm_head.dense")), "lm_head.norm")
    logits = F.linear(t, P["embeddings.word.weight"], P["lm_head.bias"])
    return x, logits


_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
              torch.int64: "I64", torch.int32: "I32"}


def safetensors_bytes(tensors, metadata=None):
    """Serialise {name: tensor} in the safetensors format (names sorted; little-endian data)."""
    header = {}
    chunks = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            a = t.numpy()
            raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)  # data section starts 8-byte aligned
    return len(h).to_bytes(8, "little") + h + b"".join(chunks)


def safetensors_parse(buf):
    """Read back safetensors bytes -> ({name: tensor}, metadata). Checks the layout is tight."""
    import numpy as np
    n = int.from_bytes(buf[:8], "little")
    assert (8 + n) % 8 == 0
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = buf[8 + n:]
    np_dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
    out = {}
    ends = []
    for name, e in header.items():
        b, t_end = e["data_offsets"]
        arr = np.frombuffer(data[b:t_end], dtype=np_dt[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
        ends.append((b, t_end))
    ends.sort()
    assert ends[0][0] == 0 and ends[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
    return out, meta


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(data)


def make_bert():
    """Returns {filename: bytes | JSON object} for test/fixtures/bert/."""
    c = BERT_CONFIG
    g = torch.Generator().manual_seed(1234)
    model = _HFBertForMaskedLM(c).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied parameters are listed once
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    sd32 = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    expected = {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                "bert.embeddings.LayerNorm.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias",
                "cls.predictions.bias", "cls.predictions.transform.dense.weight",
                "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
                "cls.predictions.transform.LayerNorm.bias", "cls.predictions.decoder.weight",
                "cls.predictions.decoder.bias"}
    for i in range(c["num_hidden_layers"]):
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                  "output.dense", "output.LayerNorm"):
            expected |= {f"bert.encoder.layer.{i}.{n}.weight", f"bert.encoder.layer.{i}.{n}.bias"}
    assert set(sd32) == expected, sorted(set(sd32) ^ expected)
    assert torch.equal(sd32["cls.predictions.decoder.weight"], sd32["bert.embeddings.word_embeddings.weight"])
    assert torch.equal(sd32["cls.predictions.decoder.bias"], sd32["cls.predictions.bias"])
    sd16 = {k: v.half() for k, v in sd32.items()}

    # inputs: [CLS]=101 a b c [SEP]=102 | d [MASK]=103 e [SEP]; row 1: one sentence + 3 pads
    ids = torch.tensor([[101, 7, 55, 19, 102, 88, 103, 31, 102],
                        [101, 64, 103, 12, 99, 102, 0, 0, 0]], dtype=torch.int32)
    types = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1],
                          [0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    attn_mask = torch.tensor([[1] * 9, [1] * 6 + [0] * 3], dtype=torch.int32)
    ids_l, types_l = ids.long(), types.long()
    add_mask = torch.zeros(2, 1, 1, 9, dtype=torch.float64).masked_fill(
        attn_mask[:, None, None, :] == 0, float("-inf"))

    pw_cfg = {"vocabSize": c["vocab_size"], "maxPositions": c["max_position_embeddings"],
              "typeVocabSize": c["type_vocab_size"], "dModel": c["hidden_size"],
              "layers": c["num_hidden_layers"], "heads": c["num_attention_heads"],
              "ffn": c["intermediate_size"], "activation": "gelu", "dropout": c["hidden_dropout_prob"],
              "attentionDropout": c["attention_probs_dropout_prob"], "layerNormEps": c["layer_norm_eps"],
              "initStd": c["initializer_range"], "normPlacement": "post"}

    m64 = _HFBertForMaskedLM(c).double().eval()
    outs = {}
    blobs = {}
    for tag, sd in (("", sd32), ("_f16", sd16)):
        blob = safetensors_bytes(sd, {"format": "pt"})
        back, meta = safetensors_parse(blob)
        assert meta == {"format": "pt"} and set(back) == set(sd)
        assert all(torch.equal(back[k], sd[k]) for k in sd)
        blobs[tag] = blob
        sd64 = {k: v.double() for k, v in back.items()}   # f16 -> exact f32/f64 values
        with torch.no_grad():
            m64.load_state_dict(sd64)
            # the tie survives load_state_dict (same Parameter); check it anyway
            assert m64.cls.predictions.decoder.weight is m64.bert.embeddings.word_embeddings.weight
            h, logits = m64(ids_l, types_l, attn_mask)
            for mv in (torch.finfo(torch.float64).min, -10000.0):
                h2, l2 = m64(ids_l, types_l, attn_mask, mask_value=mv)
                assert_close(h2, h, 0.0, f"bert{tag} mask {mv} vs -inf (hidden)")
                assert_close(l2, logits, 0.0, f"bert{tag} mask {mv} vs -inf (logits)")
            # HF modules vs the Pathwise post-LN formulation with remapped weights
            P = bert_to_pathwise(sd64, c["num_hidden_layers"])
            h3, l3 = pathwise_encoder_mlm(P, pw_cfg, ids_l, types_l, add_mask)
            assert_close(h3, h, 1e-10, f"bert{tag} HF vs Pathwise formulation (hidden)")
            assert_close(l3, logits, 1e-10, f"bert{tag} HF vs Pathwise formulation (logits)")
        outs["last_hidden_state" + tag] = h
        outs["mlm_logits" + tag] = logits
    # f16 rounding must actually change the outputs (else the f16 case tests nothing)
    assert (outs["mlm_logits_f16"] - outs["mlm_logits"]).abs().max().item() > 1e-4
    # the pre-LN branch of pathwise_encoder_mlm against the engine's block reference
    # (block_forward, itself checked against nn.TransformerEncoderLayer) + a final norm
    _check_pathwise_pre_ln(P, pw_cfg, ids_l, types_l, add_mask, g)
    io = {
        "config": c,
        "pathwiseConfig": pw_cfg,
        "maskValue": "-Infinity",
        "inputs": {"input_ids": T(ids), "token_type_ids": T(types), "attention_mask": T(attn_mask)},
        "outputs": {k: T(v) for k, v in outs.items()},
    }
    return {"config.json": c, "model.safetensors": blobs[""], "model_f16.safetensors": blobs["_f16"],
            "io.json": io}


def _check_pathwise_pre_ln(P, cfg, ids, type_ids, add_mask, g):
    cfg = dict(cfg, normPlacement="pre")
    d = cfg["dModel"]
    P = {k: v for k, v in P.items() if not k.startswith("embeddings.norm.")}
    P["final_norm.weight"] = 1.0 + 0.2 * torch.randn(d, generator=g, dtype=torch.float64)
    P["final_norm.bias"] = 0.2 * torch.randn(d, generator=g, dtype=torch.float64)
    h, _ = pathwise_encoder_mlm(P, cfg, ids, type_ids, add_mask)
    x = (P["embeddings.word.weight"][ids] + P["embeddings.position.weight"][torch.arange(ids.shape[1])]
         + P["embeddings.type.weight"][type_ids])
    for i in range(cfg["layers"]):
        x = block_forward(x, {n: P[f"layers.{i}.{n}"] for n in PARAM_NAMES}, add_mask, cfg["heads"],
                          cfg["layerNormEps"])
    x = F.layer_norm(x, (d,), P["final_norm.weight"], P["final_norm.bias"], cfg["layerNormEps"])
    assert_close(h, x, 1e-12, "Pathwise pre-LN formulation vs block_forward")


# ------------------------------------------------------------------- test/fixtures/sparse/
#
# References for the sparse layers (written by make_moe / make_skills, seeds fixed):
#
#   test/fixtures/sparse/moe.json     Switch mixture-of-experts FFN layer ({"cases": [...]})
#   test/fixtures/sparse/skills.json  SkillNet skill layer ({"cases": [...]})
#
# Switch MoE layer, exactly (E experts, top-k routing, eval-style: no jitter, no dropout):
#   inputs x [N, d] (tokens already flattened), router Wr [E, d] (no bias), experts W1 [E, F, d],
#   b1 [E, F], W2 [E, d, F], b2 [E, d] (torch Linear layout [out, in] per expert);
#   logits = x @ Wr^T [N, E]; probs = softmax(logits, -1);
#   top-k: per token the k experts with the largest probs, in descending order (ties: lower
#     expert index first; the fixtures keep every gap among each token's k+1 largest probs
#     >= 1e-4, so float32 implementations make the same choices);
#   gate of slot j: probs[n, e_j] if k == 1 or not normalizeTopK; if k > 1 and normalizeTopK:
#     probs[n, e_j] / sum_i probs[n, e_i] over the k chosen experts (all k, dropped or not; the
#     gradient flows through the division);
#   capacity C = ceil(capacityFactor * N * k / E) (evaluated in that order in float64, as JS
#     Math.ceil(cf * N * k / E) does), or unlimited (capacityFactor null) when dropless;
#     assignments are considered slot-major then token order (all tokens' slot 0 for n = 0..N-1,
#     then all slot 1, ...); one is kept iff its expert has fewer than C kept assignments so far,
#     else dropped (contributes nothing; a token with every slot dropped has output row 0);
#   out[n] = sum over kept slots j of gate_nj * (W2[e] @ gelu(W1[e] @ x_n + b1[e]) + b2[e]),
#     gelu exact (erf);
#   lb = E * sum_e f_e * P_e, f_e = #tokens whose top-1 (slot 0) expert is e, counted before
#     capacity dropping, / N (a constant: no gradient), P_e = mean_n probs[n, e];
#   z = mean_n logsumexp(logits[n, :])^2;
#   grads are those of L = sum(out * upstream) + lbWeight * lb + zWeight * z.
# Case fields: attrs {k, capacityFactor (null = dropless), normalizeTopK, lbWeight, zWeight, E, F},
# inputs {x, Wr, W1, b1, W2, b2}, upstream [N, d], outputs {out [N, d], lb [], z [],
# expertIndex int32 [N, k] (chosen experts, slot order), kept int32 [N, k] (1 kept / 0 dropped),
# counts int32 [E] (kept assignments per expert), capacity (int, or null when dropless)},
# grads {x, Wr, W1, b1, W2, b2} of L. Computed in float64 twice - an explicit per-token loop and
# a vectorised one (one-hot masks, cumsum priority, per-expert boolean selection, as Hugging
# Face's SwitchTransformersSparseMLP) - asserted to agree to 1e-10; the vectorised one run in
# float32 is asserted to make the same routing decisions and to land within 1e-5. An expert
# that receives no kept assignment has W1/b1/W2/b2 gradients exactly 0 (its router row still
# gets gradient through the softmax, lb and z).
# Cases: top1_cf1_drops (router biased to expert 0: 6 of 12 tokens dropped, zero rows),
# top1_cf2_nodrops (lb/z weights 0.5/0.1), top2_norm_cf1 (slot-1 drops while later tokens'
# slot-0 assignments to the same expert are kept), top2_nonorm_cf1.25, top1_dropless_unused_expert
# (expert 2 never chosen), top1_cf1.25_N64_E8, top2_norm_aux_only (upstream 0, lb/z weights 1:
# only the auxiliary losses' gradients).
#
# SkillNet skill layer: S skill FFNs (W1 [S, F, d], b1 [S, F], W2 [S, d, F], b2 [S, d], stacked
# like the experts above), active skill indices A (attrs.active, sorted); for x [N, d]:
#   out = (1 / |A|) * sum_{s in A} (W2[s] @ gelu(W1[s] @ x_n + b1[s]) + b2[s]);
# grads of sum(out * upstream) w.r.t. x and all stacked params (inactive skills' slices are
# exactly 0).

SPARSE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "sparse")
MOE_PARAMS = ["Wr", "W1", "b1", "W2", "b2"]
TIE_GAP = 1e-4


def _gelu_erf(t):
    return 0.5 * t * (1.0 + torch.erf(t / math.sqrt(2.0)))


def moe_capacity(cf, N, k, E):
    return None if cf is None else int(math.ceil(cf * N * k / E))


def moe_loop(x, Wr, W1, b1, W2, b2, k, cf, normalize, lbw, zw, upstream):
    """The explicit reference: one token, one slot, one expert at a time."""
    N, d = x.shape
    E = Wr.shape[0]
    C = moe_capacity(cf, N, k, E)
    logits, probs, lse = [], [], []
    for n in range(N):
        l_n = torch.mv(Wr, x[n])                       # [E]
        m = l_n.max().detach()
        ex = torch.exp(l_n - m)
        s = ex.sum()
        logits.append(l_n)
        probs.append(ex / s)
        lse.append(m + torch.log(s))
    # top-k by (descending prob, ascending index)
    choice = []
    for n in range(N):
        pv = probs[n].detach().tolist()
        order = sorted(range(E), key=lambda e: (-pv[e], e))
        for j in range(min(k + 1, E) - 1):
            assert pv[order[j]] - pv[order[j + 1]] >= TIE_GAP, ("near tie", n, j)
        choice.append(order[:k])
    gates = []
    for n in range(N):
        g = [probs[n][e] for e in choice[n]]
        if k > 1 and normalize:
            tot = g[0]
            for gi in g[1:]:
                tot = tot + gi
            g = [gi / tot for gi in g]
        gates.append(g)
    # capacity: slot-major, then token order
    counts = [0] * E
    kept = [[0] * k for _ in range(N)]
    for j in range(k):
        for n in range(N):
            e = choice[n][j]
            if C is None or counts[e] < C:
                counts[e] += 1
                kept[n][j] = 1
    rows = []
    for n in range(N):
        acc = torch.zeros(d, dtype=x.dtype)
        for j in range(k):
            if kept[n][j]:
                e = choice[n][j]
                h = _gelu_erf(torch.mv(W1[e], x[n]) + b1[e])
                y = torch.mv(W2[e], h) + b2[e]
                acc = acc + gates[n][j] * y
        rows.append(acc)
    out = torch.stack(rows)
    # load balancing: f from top-1 choices before dropping (constant), P = mean probs
    f = [0.0] * E
    for n in range(N):
        f[choice[n][0]] += 1.0 / N
    P = [sum(probs[n][e] for n in range(N)) / N for e in range(E)]
    lb = E * sum(f[e] * P[e] for e in range(E))
    z = sum(lse[n] ** 2 for n in range(N)) / N
    L = (out * upstream).sum() + lbw * lb + zw * z
    return {"out": out, "lb": lb, "z": z, "L": L,
            "expertIndex": torch.tensor(choice, dtype=torch.int32).reshape(N, k),
            "kept": torch.tensor(kept, dtype=torch.int32).reshape(N, k),
            "counts": torch.tensor(counts, dtype=torch.int32), "capacity": C}


def moe_vectorised(x, Wr, W1, b1, W2, b2, k, cf, normalize, lbw, zw, upstream):
    """The cross-check: masks as transformers' SwitchTransformersTop1Router/SparseMLP."""
    N, d = x.shape
    E = Wr.shape[0]
    C = moe_capacity(cf, N, k, E)
    logits = x @ Wr.t()
    probs = torch.softmax(logits, dim=-1)
    _, order = torch.sort(probs.detach(), dim=-1, descending=True, stable=True)
    idx = order[:, :k]                                         # [N, k]
    gates = probs.gather(1, idx)
    if k > 1 and normalize:
        gates = gates / gates.sum(dim=-1, keepdim=True)
    onehot = F.one_hot(idx, E)                                 # [N, k, E]
    slot_major = onehot.transpose(0, 1).reshape(k * N, E)
    priority = torch.cumsum(slot_major, dim=0)                 # 1-based position in its expert
    keep_sm = slot_major.bool() if C is None else slot_major.bool() & (priority <= C)
    keep = keep_sm.reshape(k, N, E).transpose(0, 1)            # [N, k, E]
    out = torch.zeros(N, d, dtype=x.dtype)
    for e in range(E):
        sel = keep[:, :, e]                                    # [N, k]
        tok = sel.any(dim=1)
        if not tok.any():
            continue
        g = (gates * sel).sum(dim=1)[tok]
        y = F.linear(F.gelu(F.linear(x[tok], W1[e], b1[e])), W2[e], b2[e])
        out = out.index_add(0, tok.nonzero().squeeze(1), g[:, None] * y)
    f = F.one_hot(idx[:, 0], E).to(x.dtype).mean(dim=0)
    lb = E * (f * probs.mean(dim=0)).sum()
    z = torch.logsumexp(logits, dim=-1).pow(2).mean()
    L = (out * upstream).sum() + lbw * lb + zw * z
    return {"out": out, "lb": lb, "z": z, "L": L, "expertIndex": idx.to(torch.int32),
            "kept": keep.any(dim=-1).to(torch.int32),
            "counts": keep.sum(dim=(0, 1)).to(torch.int32), "capacity": C}


def make_moe():
    g = torch.Generator().manual_seed(777)
    d, FF = 8, 16

    def rn(*s, scale=1.0):
        return (torch.randn(tuple(s), generator=g) * scale).float()

    def inputs(N, E, bias):
        """x's feature 0 is ~1 for every token and Wr[:, 0] = bias: a per-expert router bias."""
        x = rn(N, d)
        x[:, 0] = (x[:, 0] * 0.1 + 1.0).float()
        Wr = rn(E, d, scale=0.5)
        Wr[:, 0] = torch.tensor(bias, dtype=torch.float32)
        return {"x": x, "Wr": Wr, "W1": rn(E, FF, d, scale=0.35), "b1": rn(E, FF, scale=0.2),
                "W2": rn(E, d, FF, scale=0.25), "b2": rn(E, d, scale=0.2)}

    specs = [
        # name, N, E, k, cf, normalizeTopK, lbWeight, zWeight, router bias per expert
        ("top1_cf1_drops", 12, 4, 1, 1.0, False, 0.01, 0.001, [1.5, 0.0, 0.0, -0.5]),
        ("top1_cf2_nodrops", 12, 4, 1, 2.0, False, 0.5, 0.1, [0.0, 0.0, 0.0, 0.0]),
        ("top2_norm_cf1", 16, 4, 2, 1.0, True, 0.01, 0.001, [1.2, 0.6, 0.0, -0.8]),
        ("top2_nonorm_cf1.25", 14, 4, 2, 1.25, False, 0.1, 0.05, [0.6, 0.0, 0.0, -0.3]),
        ("top1_dropless_unused_expert", 10, 4, 1, None, False, 0.01, 0.001, [0.0, 0.0, -6.0, 0.0]),
        ("top1_cf1.25_N64_E8", 64, 8, 1, 1.25, False, 0.01, 0.001, [0.0] * 8),
        ("top2_norm_aux_only", 12, 4, 2, 1.0, True, 1.0, 1.0, [0.8, 0.0, -0.4, 0.0]),
    ]
    cases = []
    for name, N, E, k, cf, norm, lbw, zw, bias in specs:
        inp = inputs(N, E, bias)
        up = torch.zeros(N, d) if name.endswith("aux_only") else rn(N, d)
        res, grads = [], []
        for impl in (moe_loop, moe_vectorised):
            leaves = {n: v.double().requires_grad_(True) for n, v in inp.items()}
            r = impl(**leaves, k=k, cf=cf, normalize=norm, lbw=lbw, zw=zw, upstream=up.double())
            gs = torch.autograd.grad(r["L"], list(leaves.values()), allow_unused=True)
            res.append(r)
            grads.append({n: (torch.zeros_like(leaves[n]) if gv is None else gv)
                          for n, gv in zip(leaves, gs)})
        a, b = res
        for key in ("expertIndex", "kept", "counts"):
            assert torch.equal(a[key], b[key]), (name, key)
        assert a["capacity"] == b["capacity"], name
        for key in ("out", "lb", "z", "L"):
            assert_close(a[key], b[key], 1e-10, f"moe {name} {key}: loop vs vectorised")
        for n in inp:
            assert_close(grads[0][n], grads[1][n], 1e-10, f"moe {name} grad {n}: loop vs vectorised")
        # a float32 implementation makes the same routing decisions and lands close
        leaves32 = {n: v.clone().requires_grad_(True) for n, v in inp.items()}
        r32 = moe_vectorised(**leaves32, k=k, cf=cf, normalize=norm, lbw=lbw, zw=zw, upstream=up)
        g32 = torch.autograd.grad(r32["L"], list(leaves32.values()), allow_unused=True)
        for key in ("expertIndex", "kept", "counts"):
            assert torch.equal(a[key], r32[key]), (name, key, "float32")
        assert_close(r32["out"], a["out"], 1e-5, f"moe {name} out: float32 vs float64")
        for n, gv in zip(inp, g32):
            if gv is not None:
                assert_close(gv, grads[0][n], 1e-5, f"moe {name} grad {n}: float32 vs float64")
        gr = grads[0]
        kept, idx, counts, C = a["kept"], a["expertIndex"], a["counts"], a["capacity"]
        # the properties each case is there for
        if C is not None:
            assert int(counts.max()) <= C, name
        ndrop = int((kept == 0).sum())
        if name == "top1_cf1_drops":
            assert ndrop >= 2 and (kept.sum(1) == 0).any(), (name, ndrop)
        if name in ("top1_cf2_nodrops", "top1_dropless_unused_expert"):
            assert ndrop == 0, (name, ndrop)
        if name == "top2_norm_cf1":
            # a slot-1 assignment dropped while a later token's slot-0 assignment to the same
            # expert is kept: slot-major priority, not token-major
            assert any(kept[n, 1] == 0 and any(idx[m, 0] == idx[n, 1] and kept[m, 0] == 1
                                               for m in range(n + 1, N)) for n in range(N)), name
            assert int((kept[:, 1] == 1).sum()) > 0, name
        if name == "top1_dropless_unused_expert":
            assert int(counts[2]) == 0 and int((idx == 2).sum()) == 0, name
            for pn in ("W1", "b1", "W2", "b2"):
                assert bool((gr[pn][2] == 0).all()), (name, pn)
            assert bool((gr["Wr"][2] != 0).any()), name
        if name == "top1_cf1.25_N64_E8":
            assert ndrop > 0, name
        cases.append({
            "name": name,
            "attrs": {"k": k, "capacityFactor": cf, "normalizeTopK": norm, "lbWeight": lbw,
                      "zWeight": zw, "E": E, "F": FF},
            "inputs": {n: T(v) for n, v in inp.items()},
            "upstream": T(up),
            "outputs": {"out": T(a["out"]), "lb": T(a["lb"]), "z": T(a["z"]),
                        "expertIndex": T(a["expertIndex"]), "kept": T(a["kept"]),
                        "counts": T(a["counts"]), "capacity": C},
            "grads": {n: T(gr[n]) for n in inp},
        })
    return {"cases": cases}


def skills_loop(x, W1, b1, W2, b2, active):
    N, d = x.shape
    rows = []
    for n in range(N):
        acc = torch.zeros(d, dtype=x.dtype)
        for s in active:
            acc = acc + torch.mv(W2[s], _gelu_erf(torch.mv(W1[s], x[n]) + b1[s])) + b2[s]
        rows.append(acc / len(active))
    return torch.stack(rows)


def skills_vectorised(x, W1, b1, W2, b2, active):
    a = torch.tensor(active)
    h = F.gelu(torch.einsum("nd,sfd->snf", x, W1[a]) + b1[a][:, None, :])
    y = torch.einsum("snf,sdf->snd", h, W2[a]) + b2[a][:, None, :]
    return y.mean(dim=0)


def make_skills():
    g = torch.Generator().manual_seed(31337)
    N, d, FF, S = 6, 8, 16, 4

    def rn(*s, scale=1.0):
        return (torch.randn(tuple(s), generator=g) * scale).float()

    cases = []
    for active in ([2], [0, 3], [0, 1, 3]):
        inp = {"x": rn(N, d), "W1": rn(S, FF, d, scale=0.35), "b1": rn(S, FF, scale=0.2),
               "W2": rn(S, d, FF, scale=0.25), "b2": rn(S, d, scale=0.2)}
        up = rn(N, d)
        outs, grads = [], []
        for impl in (skills_loop, skills_vectorised):
            leaves = {n: v.double().requires_grad_(True) for n, v in inp.items()}
            out = impl(**leaves, active=active)
            grads.append(dict(zip(leaves, torch.autograd.grad(out, list(leaves.values()),
                                                              grad_outputs=up.double()))))
            outs.append(out)
        assert_close(outs[0], outs[1], 1e-10, f"skills {active}: loop vs vectorised")
        for n in inp:
            assert_close(grads[0][n], grads[1][n], 1e-10, f"skills {active} grad {n}")
        for s in range(S):
            for n in ("W1", "b1", "W2", "b2"):
                assert bool((grads[0][n][s] == 0).all()) == (s not in active), (active, s, n)
        cases.append({
            "name": "skills_" + "_".join(str(s) for s in active),
            "attrs": {"S": S, "F": FF, "active": active},
            "inputs": {n: T(v) for n, v in inp.items()},
            "upstream": T(up),
            "outputs": {"out": T(outs[0])},
            "grads": {n: T(grads[0][n]) for n in inp},
        })
    return {"cases": cases}


# ---------------------------------------------------------------------------------------- main

def main():
    torch.manual_seed(0)
    outputs = {
        "ops.json": make_ops(),
        "optim.json": make_optim(),
        "encoder_block.json": make_encoder_block(),
    }
    for fname, obj in outputs.items():
        path = os.path.normpath(os.path.join(OUT_DIR, fname))
        n = write_json(path, obj)
        assert n < 1_000_000, f"{fname} too large ({n} bytes)"
        extra = f", {len(obj['cases'])} cases" if "cases" in obj else ""
        print(f"wrote {path} ({n} bytes{extra})")

    for fname, obj in make_bert().items():
        path = os.path.normpath(os.path.join(BERT_DIR, fname))
        if isinstance(obj, bytes):
            n = write_bytes(path, obj)
        elif fname == "config.json":   # as HF writes it: indent 2, sorted keys
            n = write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        else:
            n = write_json(path, obj)
        assert n < 1_000_000, f"{fname} too large ({n} bytes)"
        print(f"wrote {path} ({n} bytes)")

    for fname, obj in (("moe.json", make_moe()), ("skills.json", make_skills())):
        path = os.path.normpath(os.path.join(SPARSE_DIR, fname))
        n = write_json(path, obj)
        assert n < 1_000_000, f"{fname} too large ({n} bytes)"
        print(f"wrote {path} ({n} bytes, {len(obj['cases'])} cases)")


if __name__ == "__main__":
    main()
