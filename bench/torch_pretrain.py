#!/usr/bin/python3
"""PyTorch side of the pretraining benchmark (`npm run bench:pretrain`; called as a subprocess).

Run with Debian's system interpreter (that is where PyTorch is installed):

    /usr/bin/python3 bench/torch_pretrain.py [--batch 32] [--seq 128] [--vocab 16384] \
        [--d-model 256] [--layers 4] [--heads 4] [--ffn 1024] [--dropout 0.1] \
        [--attention-dropout D] [--steps 10] [--warmup 2] [--intra-threads k] [--blas-threads k] \
        [--pick-threads] [--linear-impl onednn|blas] [--dropout-impl numpy|rand|native] \
        [--malloc nommap|tuned|default] [--foreach] [--check]

Masked-LM training throughput of the Pathwise default pretraining model, written as fast as
PyTorch 1.13 allows on CPU, float32. The model (parameter names as Pathwise's):

    x = embeddings.word[ids] + embeddings.position[0..T-1] + embeddings.type[0]; dropout
    L pre-LN blocks: h = x + drop(attn.out(MHA(ln1(x))));  y = h + drop(ffn.fc2(drop(gelu(ffn.fc1(ln2(h))))))
        MHA: packed attn.qkv (rows Q, K, V; heads contiguous), softmax(q k^T / sqrt(d/H)),
        dropout(attention_dropout) on the probabilities; no mask (packed sequences, no padding)
    final_norm; LM head (BERT's): lm_head.norm(gelu(lm_head.dense(h))) @ embeddings.word^T + lm_head.bias

GELU is exact (erf); LayerNorm eps 1e-5; type ids all 0 (one segment). Each step draws
exactly round(0.15 * B * T) positions uniformly without replacement; each of them becomes
[MASK] (id 4) with probability 0.8, a random regular id (uniform in [5, V)) with 0.1, and is
kept with 0.1. The hidden states at those positions are gathered, go through final_norm and
the head (final_norm is per token, so gathering first computes the same numbers for them as
normalising all positions), and the loss is the mean cross-entropy against the original ids.
Then clip_grad_norm_(1.0) and AdamW(lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01,
all parameters) with zero_grad(set_to_none=True). Token ids come from a fixed pool of random
batches (uniform in [5, V)); the masking is redrawn every step and is part of the timed step.
`--warmup` untimed steps come first, then `--steps` timed ones. The last line printed is one
JSON object:

    {"tokens_per_s": ..., "steps_per_s": ..., "ms_per_step": ..., "intra_threads": k,
     "blas_threads": k, "torch": "1.13...", "params": n, ...}

tokens_per_s counts every token of the batch (B * T per step), not just the masked ones.

Speed choices (each keeps the computation; medians of ms/step on the reference 2-core machine
(AMD EPYC with AVX-512, torch 1.13 from Debian with OpenBLAS), intra 2 / BLAS 1, B 32 x T 128):
  * Linear layers through oneDNN (torch._C._nn.mkldnn_linear, AVX-512, with autograd; weights
    stay ordinary dense parameters) instead of OpenBLAS (F.linear): ~560 vs ~1180 ms. The FFN
    (fc1 -> GELU -> dropout -> fc2) stays in oneDNN tensors, saving the dense round trips
    (~10% of a layer). --linear-impl blas for F.linear everywhere.
  * glibc malloc tuned before torch allocates (--malloc): PyTorch's CPU allocator is malloc,
    and by default glibc hands big blocks back to the OS and faults them in again each step;
    blocks over 32 MiB (the [614, 16384] logits, 40 MB) always come from a fresh mmap. 'nommap'
    (default: Pathwise's engine settings M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB,
    M_TOP_PAD 64 MiB, plus M_MMAP_MAX 0) vs 'default': ~555 vs ~630 ms.
  * Dropout masks `x * (u >= p) / (1 - p)` with u uniform float32: F.dropout's distribution and
    scaling; u from NumPy's PCG64 (default) ~555 ms, torch.rand ~585 ms, F.dropout (bernoulli_,
    serial here) ~690 ms.
  * one fused qkv Linear; attention as baddbmm (scale in alpha) / softmax / bmm on [B*H, T, hd],
    no mask at all (no padding); only the masked positions go through final_norm and the head
    (final_norm is per token: the same numbers).
  * AdamW's default per-tensor loop (--foreach: no measurable difference here).
Tried and dropped: splitting the attention bmm over two Python threads (no gain), a fused
one-exp cross-entropy (no gain once malloc is tuned), OMP_WAIT_POLICY=PASSIVE with intra 2 /
BLAS 2 (slower than intra 2 / BLAS 1), Linear as a 1x1 oneDNN convolution (2-3x slower).
--check verifies the model against plain references (see run_check) and exits.

Threads: see torch_common.py. oneDNN runs on the intra-op (OpenMP) threads, so with the
default --linear-impl the BLAS threads only serve the attention bmm's. --pick-threads runs short
trials of (intra, blas) in {(1,2), (2,1), (2,2), (1,1)} and then the full measurement with the
fastest. On an idle 2-core machine intra 2 / BLAS 1 wins (~530-560 ms/step vs ~800-860 at
intra 1); when another process keeps a core busy, intra 2 can collapse to seconds per step
(libgomp's spinning workers), and the trials then pick intra 1.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402

MASK_ID = 4
FIRST_REGULAR_ID = 5
MASK_FRACTION = 0.15


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--attention-dropout", type=float, default=None, help="default: --dropout")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    torch_common.add_thread_args(p, pick_steps=4, pick_warmup=1)
    p.add_argument("--linear-impl", choices=["onednn", "blas"], default="onednn",
                   help="Linear layers through oneDNN (mkldnn_linear; default) or OpenBLAS (F.linear)")
    p.add_argument("--dropout-impl", choices=["numpy", "rand", "native"], default="numpy",
                   help="dropout masks from NumPy PCG64 uniforms (default), torch.rand, or F.dropout")
    p.add_argument("--foreach", action="store_true", help="AdamW foreach=True (no measurable difference here)")
    p.add_argument("--malloc", choices=["nommap", "tuned", "default"], default="nommap",
                   help="glibc malloc settings applied before torch loads (see the module doc)")
    p.add_argument("--check", action="store_true",
                   help="check the fast model against plain references and exit")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.attention_dropout is None:
        args.attention_dropout = args.dropout
    return args


def make_dropout(torch, impl, seed=0):
    """Returns (drop, keep_mask): drop(t, p, training) is dropout; keep_mask(shape, p) is the
    scaled keep mask (0 or 1/(1-p)) it multiplies by. 'numpy' and 'rand' have F.dropout's
    distribution and scaling (keep with probability 1-p: a float32 uniform u with 24 random bits,
    kept iff u >= p), with the uniforms from NumPy's PCG64 or torch.rand, both faster than
    F.dropout's bernoulli_ here (serial in this CPU build)."""
    import torch.nn.functional as F
    if impl == "native":
        return F.dropout, None
    if impl == "numpy":
        import numpy as np
        rng = np.random.Generator(np.random.PCG64(seed))

        def uniform(shape):
            t = torch.empty(shape)
            rng.random(out=t.numpy().reshape(-1), dtype=np.float32)
            return t
    else:
        def uniform(shape):
            return torch.rand(shape)

    def keep_mask(shape, p):
        return uniform(shape).ge_(p).mul_(1.0 / (1.0 - p))

    def drop(t, p, training):
        if not training or p == 0.0:
            return t
        return t * keep_mask(t.shape, p)
    return drop, keep_mask


def build_model(args, torch, dtype=None):
    import torch.nn as nn
    import torch.nn.functional as F

    V, P, D, L, H, FF = args.vocab, args.seq, args.d_model, args.layers, args.heads, args.ffn
    p, pa = args.dropout, args.attention_dropout
    assert D % H == 0
    hd = D // H
    scale = 1.0 / math.sqrt(hd)
    drop, keep_mask = make_dropout(torch, args.dropout_impl, args.seed)
    eps = 1e-5
    onednn = args.linear_impl == "onednn"
    if onednn:
        mkldnn_linear = torch._C._nn.mkldnn_linear

        def lin(x, w, b):
            shp = x.shape
            y = mkldnn_linear(x.reshape(-1, shp[-1]).to_mkldnn(), w, b).to_dense()
            return y.view(*shp[:-1], w.shape[0])
    else:
        lin = F.linear

    def table(rows):
        m = nn.Embedding(rows, D)
        nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
        return m

    def linear(i, o):
        m = nn.Linear(i, o)
        nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
        nn.init.zeros_(m.bias)
        return m

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = table(V)
            self.position = table(P)
            self._modules["type"] = table(2)  # named "type"; nn.Module.type() shadows the attribute

        @property
        def type_table(self):
            return self._modules["type"]

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = linear(D, 3 * D)
            self.out = linear(D, D)

    class FFN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = linear(D, FF)
            self.fc2 = linear(FF, D)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D, eps=eps)
            self.attn = Attn()
            self.ln2 = nn.LayerNorm(D, eps=eps)
            self.ffn = FFN()

        def forward(self, x):
            B, T, _ = x.shape
            tr = self.training
            qkv = lin(self.ln1(x), self.attn.qkv.weight, self.attn.qkv.bias)
            # [B, T, 3, H, hd] -> [3, B, H, T, hd] -> q, k, v as [B*H, T, hd]
            q, k, v = qkv.view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4).reshape(3, B * H, T, hd).unbind(0)
            # scores = (q k^T) / sqrt(hd) in one baddbmm (beta 0: the input is ignored)
            s = torch.baddbmm(q.new_empty(()).expand(B * H, T, T), q, k.transpose(1, 2),
                              beta=0.0, alpha=scale)
            pr = drop(torch.softmax(s, dim=-1), pa, tr)
            ctx = torch.bmm(pr, v).view(B, H, T, hd).transpose(1, 2).reshape(B, T, D)
            h = x + drop(lin(ctx, self.attn.out.weight, self.attn.out.bias), p, tr)
            if onednn and keep_mask is not None:
                # fc1 -> GELU -> dropout -> fc2 stays in oneDNN tensors (no dense round trips)
                u = F.gelu(mkldnn_linear(self.ln2(h).reshape(B * T, D).to_mkldnn(),
                                         self.ffn.fc1.weight, self.ffn.fc1.bias))
                if tr and p > 0.0:
                    u = u * keep_mask((B * T, FF), p).to_mkldnn()
                f = mkldnn_linear(u, self.ffn.fc2.weight, self.ffn.fc2.bias).to_dense().view(B, T, D)
            else:
                f = lin(drop(F.gelu(lin(self.ln2(h), self.ffn.fc1.weight, self.ffn.fc1.bias)), p, tr),
                        self.ffn.fc2.weight, self.ffn.fc2.bias)
            return h + drop(f, p, tr)

    class LmHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = linear(D, D)
            self.norm = nn.LayerNorm(D, eps=eps)
            self.bias = nn.Parameter(torch.zeros(V))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.layers = nn.ModuleList([Block() for _ in range(L)])
            self.final_norm = nn.LayerNorm(D, eps=eps)
            self.lm_head = LmHead()

        def hidden(self, ids):
            """ids [B, T] -> last block's output [B, T, D] (before final_norm)."""
            T = ids.shape[1]
            e = self.embeddings
            # type ids are all 0: adding type[0] to every token is the embedding of zeros
            x = F.embedding(ids, e.word.weight) + (e.position.weight[:T] + e.type_table.weight[0])
            x = drop(x, p, self.training)
            for blk in self.layers:
                x = blk(x)
            return x

        def mlm_logits(self, h_sel):
            """h_sel [N, D] (gathered pre-final_norm hidden states) -> logits [N, V]."""
            t = self.final_norm(h_sel)
            hd_ = self.lm_head
            t = F.layer_norm(F.gelu(lin(t, hd_.dense.weight, hd_.dense.bias)), (D,),
                             hd_.norm.weight, hd_.norm.bias, eps)
            return lin(t, self.embeddings.word.weight, hd_.bias)

        def forward(self, ids, positions, targets):
            h = self.hidden(ids)
            h_sel = h.view(-1, h.shape[-1]).index_select(0, positions)
            return F.cross_entropy(self.mlm_logits(h_sel), targets)

    m = Model()
    if dtype is not None:
        m = m.to(dtype)
    return m


def mask_batch(torch, ids, vocab, gen=None):
    """Exactly round(0.15 * B * T) positions without replacement; 80% [MASK] / 10% random /
    10% kept, drawn per position. Returns (inputs, flat positions, targets)."""
    n_tok = ids.numel()
    n = int(round(MASK_FRACTION * n_tok))
    flat = ids.reshape(-1)
    positions = torch.randperm(n_tok, generator=gen)[:n]
    targets = flat[positions]
    r = torch.rand(n, generator=gen)
    rand_ids = torch.randint(FIRST_REGULAR_ID, vocab, (n,), generator=gen)
    new = torch.where(r < 0.8, torch.full_like(targets, MASK_ID), torch.where(r < 0.9, rand_ids, targets))
    inputs = flat.clone()
    inputs[positions] = new
    return inputs.view_as(ids), positions, targets


def run_train(args):
    import torch
    if args.intra_threads is not None:
        torch.set_num_threads(args.intra_threads)
    torch.manual_seed(args.seed)
    model = build_model(args, torch)
    model.train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                            foreach=args.foreach)
    g = torch.Generator().manual_seed(args.seed + 1)
    pool = [torch.randint(FIRST_REGULAR_ID, args.vocab, (args.batch, args.seq), generator=g)
            for _ in range(4)]
    state = {"i": 0}

    def step():
        ids = pool[state["i"] % len(pool)]
        state["i"] += 1
        inputs, positions, targets = mask_batch(torch, ids, args.vocab, g)
        opt.zero_grad(set_to_none=True)
        loss = model(inputs, positions, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    torch_common.warm([step], args.warmup, args.warmup_s)
    per_step = []
    t0 = time.perf_counter()
    for _ in range(args.steps):
        ts = time.perf_counter()
        loss = step()
        per_step.append(time.perf_counter() - ts)
    dt = time.perf_counter() - t0
    tokens = args.batch * args.seq
    print(json.dumps({
        "tokens_per_s": tokens * args.steps / dt, "steps_per_s": args.steps / dt,
        "ms_per_step": 1000.0 * dt / args.steps,
        "ms_per_step_median": 1000.0 * torch_common.median(per_step),
        "ms_per_step_min": 1000.0 * min(per_step),
        "intra_threads": torch.get_num_threads(), "blas_threads": torch_common.blas_threads_effective(),
        "torch": torch.__version__, "params": sum(q.numel() for q in params),
        "batch": args.batch, "seq": args.seq, "vocab": args.vocab, "d_model": args.d_model,
        "layers": args.layers, "heads": args.heads, "ffn": args.ffn, "dropout": args.dropout,
        "attention_dropout": args.attention_dropout, "norm": "pre",
        "masked_per_step": int(round(MASK_FRACTION * tokens)), "steps": args.steps,
        "warmup": args.warmup, "final_loss": float(loss.item()), "dropout_impl": args.dropout_impl,
        "adamw_foreach": args.foreach, "linear_impl": args.linear_impl,
        "malloc": args.malloc,
        "malloc_tuned": args.malloc_tuned,
    }), flush=True)


def run_check(args):
    """1. float64, dropout 0: the model (with F.linear) against a plain reference
    (nn.TransformerEncoderLayer(norm_first=True) stack sharing its parameters, final_norm on all
    positions, then gather, head, F.cross_entropy): loss and every gradient to 1e-10.
    2. float32, dropout 0: the configured fast path (e.g. oneDNN) against that F.linear path.
    3. the dropout mask: kept fraction and scale."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(2)
    small = dict(vars(args), batch=3, seq=16, vocab=97, d_model=32, layers=2, heads=4, ffn=64,
                 dropout=0.0, attention_dropout=0.0)
    ref_args = argparse.Namespace(**dict(small, linear_impl="blas"))
    torch.manual_seed(args.seed)
    fast = build_model(ref_args, torch, dtype=torch.float64).train()
    with torch.no_grad():  # random LN / bias values, so that every parameter matters
        for q in fast.parameters():
            q.add_(torch.randn_like(q) * 0.1)
    D = ref_args.d_model
    ref_layers = []
    for blk in fast.layers:
        lay = nn.TransformerEncoderLayer(D, ref_args.heads, dim_feedforward=ref_args.ffn, dropout=0.0,
                                         activation="gelu", layer_norm_eps=1e-5, batch_first=True,
                                         norm_first=True, dtype=torch.float64).train()
        # share the parameters, so gradients land on the same tensors
        lay.norm1.weight, lay.norm1.bias = blk.ln1.weight, blk.ln1.bias
        lay.self_attn.in_proj_weight, lay.self_attn.in_proj_bias = blk.attn.qkv.weight, blk.attn.qkv.bias
        lay.self_attn.out_proj.weight, lay.self_attn.out_proj.bias = blk.attn.out.weight, blk.attn.out.bias
        lay.norm2.weight, lay.norm2.bias = blk.ln2.weight, blk.ln2.bias
        lay.linear1.weight, lay.linear1.bias = blk.ffn.fc1.weight, blk.ffn.fc1.bias
        lay.linear2.weight, lay.linear2.bias = blk.ffn.fc2.weight, blk.ffn.fc2.bias
        ref_layers.append(lay)

    def ref_loss(inputs, positions, targets):
        e = fast.embeddings
        B, T = inputs.shape
        x = e.word(inputs) + e.position(torch.arange(T))[None] + e.type_table(torch.zeros_like(inputs))
        for lay in ref_layers:
            x = lay(x)
        x = fast.final_norm(x).reshape(B * T, D)[positions]
        hh = fast.lm_head
        t = F.layer_norm(F.gelu(hh.dense(x)), (D,), hh.norm.weight, hh.norm.bias, 1e-5)
        return F.cross_entropy(t @ e.word.weight.t() + hh.bias, targets)

    g = torch.Generator().manual_seed(5)
    ids = torch.randint(FIRST_REGULAR_ID, ref_args.vocab, (ref_args.batch, ref_args.seq), generator=g)
    inputs, positions, targets = mask_batch(torch, ids, ref_args.vocab, g)
    assert positions.numel() == round(0.15 * ids.numel()) and positions.unique().numel() == positions.numel()
    params = list(fast.parameters())
    la = fast(inputs, positions, targets)
    ga = torch.autograd.grad(la, params)
    lb = ref_loss(inputs, positions, targets)
    gb = torch.autograd.grad(lb, params)
    assert all(b.abs().max().item() > 0 for b in gb), "a parameter without gradient"
    err64 = max([abs(la.item() - lb.item())] + [(a - b).abs().max().item() for a, b in zip(ga, gb)])
    if not err64 < 1e-10:
        raise SystemExit(f"check failed: float64 max abs err {err64}")

    m32 = build_model(argparse.Namespace(**small), torch).train()
    r32 = build_model(argparse.Namespace(**dict(small, linear_impl="blas")), torch).train()
    m32.load_state_dict({k: v.float() for k, v in fast.state_dict().items()})
    r32.load_state_dict(m32.state_dict())
    l1 = m32(inputs, positions, targets)
    g1 = torch.autograd.grad(l1, list(m32.parameters()))
    l2 = r32(inputs, positions, targets)
    g2 = torch.autograd.grad(l2, list(r32.parameters()))
    rel32 = max([abs(l1.item() - l2.item()) / abs(l2.item())]
                + [((a - b).abs().max() / b.abs().max()).item() for a, b in zip(g1, g2)])
    if not rel32 < 1e-4:
        raise SystemExit(f"check failed: float32 {args.linear_impl} vs F.linear: max rel err {rel32}")

    drop, keep_mask = make_dropout(torch, args.dropout_impl, args.seed)
    x = torch.ones(1 << 22)
    y = drop(x, 0.1, True)
    kept = (y != 0).double().mean().item()
    assert abs(kept - 0.9) < 2e-3, kept                          # 7 sigma
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.9)), "dropout scale"
    print(json.dumps({"check": "ok", "float64_vs_TransformerEncoderLayer_max_abs_err": err64,
                      f"float32_{args.linear_impl}_vs_F.linear_max_rel_err": rel32,
                      "dropout_kept_fraction": kept, "loss": la.item(),
                      "params": [n for n, _ in fast.named_parameters()]}), flush=True)


def tune_malloc(mode):
    """mallopt before torch allocates anything. 'tuned': Pathwise's engine settings (mmap
    threshold 32 MiB, trim threshold 1 GiB, top pad 64 MiB: freed heap is kept for reuse, not
    returned to the OS and faulted back in); 'nommap': those plus M_MMAP_MAX = 0, so blocks over
    32 MiB (the [masked, V] logits and their gradients) also come from the reused heap instead of
    a fresh mmap (page faults on every touch) each step."""
    if mode == "default":
        return True
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (libc.mallopt(-3, 32 << 20) == 1 and libc.mallopt(-1, 1 << 30) == 1
              and libc.mallopt(-2, 64 << 20) == 1)       # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD
        if mode == "nommap":
            ok = ok and libc.mallopt(-4, 0) == 1          # M_MMAP_MAX
        return ok
    except (OSError, AttributeError):
        return False


def main():
    args = parse_args()
    if args.pick_threads:
        torch_common.pick_threads(
            args, __file__,
            trial_line=lambda r: (f"{r['tokens_per_s']:.0f} tokens/s, {r['steps_per_s']:.3f} steps/s "
                                  f"(median step {r['ms_per_step_median']:.1f} ms)"),
            trial_keys=("tokens_per_s", "steps_per_s", "ms_per_step_median"))
        return
    torch_common.maybe_reexec_for_blas(args, __file__)
    args.malloc_tuned = tune_malloc(args.malloc)
    if args.check:
        run_check(args)
    else:
        run_train(args)


if __name__ == "__main__":
    main()
