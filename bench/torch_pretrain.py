#!/usr/bin/python3
"""PyTorch side of the pretraining benchmark (`npm run bench:pretrain`; called as a subprocess).

Run with Debian's system interpreter (that is where PyTorch is installed):

    /usr/bin/python3 bench/torch_pretrain.py [--batch 32] [--seq 128] [--vocab 16384] \
        [--d-model 256] [--layers 4] [--heads 4] [--ffn 1024] [--dropout 0.1] \
        [--attention-dropout D] [--steps 10] [--warmup 2] [--intra-threads k] [--blas-threads k] \
        [--pick-threads] [--check]

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

Speed choices (all keep the computation): one fused qkv Linear; attention as bmm / softmax /
bmm on [B*H, T, hd] with the 1/sqrt(hd) scale applied by baddbmm's alpha (no mask, so no mask
add); dropout masks from torch.rand (`x * (rand >= p) / (1 - p)`: F.dropout's distribution and
scaling, several times faster than its bernoulli_ path on this CPU build, see torch_engine.py);
only the masked positions go through final_norm / LM head; AdamW with foreach=True (the
multi-tensor path; --no-foreach for the per-tensor loop). --check verifies the fast model
against a plain float64 reference built from nn.TransformerEncoderLayer (dropout 0) and exits.

Threads: see torch_common.py. --pick-threads runs short trials of (intra, blas) in
{(1,2), (2,1), (2,2), (1,1)} and then the full measurement with the fastest.
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
    p.add_argument("--dropout-impl", choices=["rand", "numpy", "native"], default="rand",
                   help="'rand' = mask from torch.rand (default), 'native' = F.dropout")
    p.add_argument("--no-foreach", action="store_true", help="AdamW's per-tensor loop instead of foreach")
    p.add_argument("--bmm-threads", type=int, default=1,
                   help="split attention bmm's batch over this many Python threads")
    p.add_argument("--ffn-chain", action="store_true",
                   help="onednn: keep fc1 -> gelu -> dropout -> fc2 in oneDNN tensors")
    p.add_argument("--linear-impl", choices=["blas", "onednn"], default="blas",
                   help="Linear layers through OpenBLAS (F.linear) or oneDNN (mkldnn_linear)")
    p.add_argument("--check", action="store_true",
                   help="check the fast model against a plain float64 reference and exit")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.attention_dropout is None:
        args.attention_dropout = args.dropout
    return args


def make_dropout(torch, impl):
    import torch.nn.functional as F
    if impl == "native":
        return F.dropout
    if impl == "numpy":
        fill = make_uniform_filler(torch, torch.initial_seed(), torch.get_num_threads())

        def drop_np(t, p, training):
            # as 'rand', with the uniforms from NumPy (PCG64, float32 = 24 random bits like
            # torch.rand), filled by get_num_threads() threads
            if not training or p == 0.0:
                return t
            with torch.no_grad():
                m = fill(torch.empty(t.shape)).ge_(p).mul_(1.0 / (1.0 - p))
            return t * m
        return drop_np

    def drop(t, p, training):
        # F.dropout's distribution and scaling (keep with probability 1-p, scale by 1/(1-p)),
        # with the mask from torch.rand instead of bernoulli_ (slow serial CPU path here).
        if not training or p == 0.0:
            return t
        with torch.no_grad():
            m = torch.rand_like(t).ge_(p).mul_(1.0 / (1.0 - p))
        return t * m
    return drop


def make_uniform_filler(torch, seed, threads):
    """fill(t): t (contiguous float32) <- U[0, 1) float32, from `threads` independent PCG64
    streams over contiguous chunks, run in parallel (NumPy releases the GIL while filling)."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    gens = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(max(1, threads))]
    pool = ThreadPoolExecutor(len(gens) - 1) if len(gens) > 1 else None

    def fill(t):
        a = t.numpy().reshape(-1)
        n = a.shape[0]
        k = len(gens) if n >= 1 << 16 else 1
        bounds = [n * i // k for i in range(k + 1)]
        futs = [pool.submit(gens[i].random, out=a[bounds[i]:bounds[i + 1]], dtype=np.float32)
                for i in range(1, k)]
        gens[0].random(out=a[bounds[0]:bounds[1]], dtype=np.float32)
        for f in futs:
            f.result()
        return t
    return fill


def make_bmm(torch, threads):
    """bmm whose batch is split over `threads` Python threads (forward and backward): torch.bmm
    on CPU loops over the batch calling single-threaded BLAS, and ops release the GIL."""
    if threads <= 1:
        return torch.bmm
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(threads - 1)

    def part(a, b, out):
        with torch.no_grad():
            torch.bmm(a, b, out=out)

    def raw(a, b):
        n = a.shape[0]
        out = a.new_empty((n, a.shape[1], b.shape[2]))
        bd = [n * i // threads for i in range(threads + 1)]
        futs = [pool.submit(part, a[bd[i]:bd[i + 1]], b[bd[i]:bd[i + 1]], out[bd[i]:bd[i + 1]])
                for i in range(1, threads)]
        part(a[bd[0]:bd[1]], b[bd[0]:bd[1]], out[bd[0]:bd[1]])
        for f in futs:
            f.result()
        return out

    class ParallelBmm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return raw(a, b)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = raw(g, b.transpose(1, 2)) if ctx.needs_input_grad[0] else None
            gb = raw(a.transpose(1, 2), g) if ctx.needs_input_grad[1] else None
            return ga, gb
    return ParallelBmm.apply


def build_model(args, torch, dtype=None):
    import torch.nn as nn
    import torch.nn.functional as F

    V, P, D, L, H, FF = args.vocab, args.seq, args.d_model, args.layers, args.heads, args.ffn
    p, pa = args.dropout, args.attention_dropout
    assert D % H == 0
    hd = D // H
    scale = 1.0 / math.sqrt(hd)
    drop = make_dropout(torch, args.dropout_impl)
    eps = 1e-5
    bmm = make_bmm(torch, args.bmm_threads)
    ffn_chain = args.ffn_chain and args.linear_impl == "onednn"

    def drop_mask(shape, p):
        return drop(torch.ones(shape), p, True)
    if args.linear_impl == "onednn":
        def lin(x, w, b):
            shp = x.shape
            y = torch._C._nn.mkldnn_linear(x.reshape(-1, shp[-1]).to_mkldnn(), w, b).to_dense()
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
            if bmm is torch.bmm:
                s = torch.baddbmm(q.new_empty(()).expand(B * H, T, T), q, k.transpose(1, 2),
                                  beta=0.0, alpha=scale)
            else:
                s = bmm(q * scale, k.transpose(1, 2))
            pr = drop(torch.softmax(s, dim=-1), pa, tr)
            ctx = bmm(pr, v).view(B, H, T, hd).transpose(1, 2).reshape(B, T, D)
            h = x + drop(lin(ctx, self.attn.out.weight, self.attn.out.bias), p, tr)
            if ffn_chain:
                u = F.gelu(torch._C._nn.mkldnn_linear(self.ln2(h).reshape(B * T, D).to_mkldnn(),
                                                      self.ffn.fc1.weight, self.ffn.fc1.bias))
                if tr and p > 0.0:
                    u = u * drop_mask(u.shape, p).to_mkldnn()
                f = torch._C._nn.mkldnn_linear(u, self.ffn.fc2.weight, self.ffn.fc2.bias).to_dense().view(B, T, D)
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
                            foreach=not args.no_foreach)
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

    for _ in range(args.warmup):
        step()
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
        "adamw_foreach": not args.no_foreach,
    }), flush=True)


def run_check(args):
    """The fast model vs a plain reference (nn.TransformerEncoderLayer stack, full final_norm,
    then gather), float64, dropout 0: loss and every gradient."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    small = argparse.Namespace(**dict(vars(args), batch=3, seq=16, vocab=97, d_model=32, layers=2,
                                      heads=4, ffn=64, dropout=0.0, attention_dropout=0.0))
    torch.manual_seed(args.seed)
    fast = build_model(small, torch, dtype=torch.float64).train()
    with torch.no_grad():  # random LN / bias values, so that every parameter matters
        for n, q in fast.named_parameters():
            q.add_(torch.randn_like(q) * 0.1)
    D = small.d_model
    ref_layers = []
    for blk in fast.layers:
        lay = nn.TransformerEncoderLayer(D, small.heads, dim_feedforward=small.ffn, dropout=0.0,
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
        x = (e.word(inputs) + e.position(torch.arange(T))[None] + e.type_table(torch.zeros_like(inputs)))
        for lay in ref_layers:
            x = lay(x)
        x = fast.final_norm(x).reshape(B * T, D)[positions]
        hh = fast.lm_head
        t = F.layer_norm(F.gelu(hh.dense(x)), (D,), hh.norm.weight, hh.norm.bias, 1e-5)
        return F.cross_entropy(t @ e.word.weight.t() + hh.bias, targets)

    g = torch.Generator().manual_seed(5)
    ids = torch.randint(FIRST_REGULAR_ID, small.vocab, (small.batch, small.seq), generator=g)
    inputs, positions, targets = mask_batch(torch, ids, small.vocab, g)
    assert positions.numel() == round(0.15 * ids.numel()) and positions.unique().numel() == positions.numel()
    params = list(fast.parameters())
    la = fast(inputs, positions, targets)
    ga = torch.autograd.grad(la, params)
    lb = ref_loss(inputs, positions, targets)
    gb = torch.autograd.grad(lb, params)
    err = max([abs(la.item() - lb.item())] + [(a - b).abs().max().item() for a, b in zip(ga, gb)])
    names = [n for n, _ in fast.named_parameters()]
    assert all(b.abs().max().item() > 0 for b in gb), "a parameter without gradient"
    print(json.dumps({"check": "fast model vs nn.TransformerEncoderLayer reference (float64)",
                      "loss": la.item(), "max_abs_err": err, "params": names}), flush=True)
    if not err < 1e-10:
        raise SystemExit(f"check failed: max abs err {err}")


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
    if args.check:
        run_check(args)
    else:
        run_train(args)


if __name__ == "__main__":
    main()
