#!/usr/bin/python3
"""PyTorch side of the engine benchmark (called by the TypeScript benchmark as a subprocess).

Run with Debian's system interpreter (that is where PyTorch is installed):

    /usr/bin/python3 bench/torch_engine.py --batch 32 --seq 64 --d-model 256 --heads 4 \
        --ffn 1024 --dropout 0.1 --steps 20 --warmup 3 [--intra-threads k] [--blas-threads k] \
        [--pick-threads] [--impl custom|torch] [--gemm]

Training-step benchmark: one pre-LN Transformer encoder block (LN -> MHA -> residual,
LN -> Linear -> GELU(erf) -> Linear -> residual; dropout where nn.TransformerEncoderLayer puts
it: attention probabilities, after the attention output projection, after the GELU and after
fc2), float32, input x ~ randn [B,T,d], key padding mask with the last T/8 tokens of every
other sequence padded, loss = MSE(block(x), fixed random target). Each timed step is
zero_grad(set_to_none=True), forward, backward, AdamW(lr=1e-4, weight_decay=0.01).step().
`warmup` untimed steps come first. The last line printed is one JSON object:

    {"steps_per_s": ..., "ms_per_step": ..., "intra_threads": k, "blas_threads": k,
     "torch": "1.13...", "impl": "custom"|"torch", ...}

Implementations (--impl): "custom" is an own nn.Module with the engine's parameter names
(ln1, attn.qkv, attn.out, ln2, ffn.fc1, ffn.fc2); "torch" is
nn.TransformerEncoderLayer(norm_first=True, batch_first=True, activation='gelu'). Both compute
the same function (checked to 2e-7 with weights copied, dropout 0). The default is "custom",
measured faster on the reference 2-core machine (torch 1.13, OpenBLAS): about 10.7 vs 9.4
steps/s at intra 1 / OpenBLAS 2. The gain is all dropout: F.dropout (bernoulli_ on CPU)
costs ~24 ms for a 2M-element tensor here, while a mask from torch.rand costs ~6 ms.
--dropout-impl rand (default) uses `x * (rand_like(x) >= p) / (1-p)` - the same distribution
and scaling as F.dropout - and --dropout-impl native uses F.dropout (with it, custom and torch
run at the same speed).

Threads. Intra-op (OpenMP) threads: --intra-threads k -> torch.set_num_threads(k).
BLAS threads: PyTorch here calls OpenBLAS (pthreads build) for GEMMs, whose thread count is
read from OPENBLAS_NUM_THREADS when the library loads, i.e. before `import torch`. So
--blas-threads k re-executes this script with OPENBLAS_NUM_THREADS=k in the environment (a
caller may equally set the variable itself). The two pools do not know about each other: on a
2-core machine intra=2 plus blas=2 oversubscribes the cores (~5 steps/s instead of ~10-11):
libgomp's worker threads spin while OpenBLAS's run. Setting OMP_WAIT_POLICY=PASSIVE (before
torch loads; the caller's job) removes that penalty - intra 2 / blas 2 then runs as fast as
intra 1 / blas 2, not faster - so the trials below use the default wait policy.
--pick-threads runs short trials (separate subprocesses) of (intra 1, blas 2), (intra 2, blas 1),
(intra 2, blas 2), (intra 1, blas 1), prints each, then runs the full --steps/--warmup
measurement with the fastest and prints its JSON (with the trials under "trials") last.

--gemm times torch.mm in float32 for MxKxN = 256x256x256, 1024x1024x1024 and 4096x256x1024
(A[M,K] @ B[K,N]) and prints {"gemm_gflops": {...}, ...} (2*M*N*K flops per product).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402  (thread handling shared with torch_pretrain.py)
from torch_common import PICK_COMBOS, blas_threads_effective  # noqa: E402,F401

# The faster implementation on the reference 2-core machine (custom vs torch), see module doc.
DEFAULT_IMPL = "custom"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    torch_common.add_thread_args(p)  # --intra-threads --blas-threads --pick-threads --pick-steps --pick-warmup
    p.add_argument("--impl", choices=["custom", "torch"], default=DEFAULT_IMPL)
    p.add_argument("--dropout-impl", choices=["rand", "native"], default="rand",
                   help="custom impl only: 'native' = F.dropout, 'rand' = mask from torch.rand")
    p.add_argument("--gemm", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def maybe_reexec_for_blas(args):
    """OPENBLAS_NUM_THREADS must be in the environment before torch (OpenBLAS) loads."""
    torch_common.maybe_reexec_for_blas(args, __file__)


def pick_threads(args):
    torch_common.pick_threads(args, __file__)


def build(args, torch):
    import math
    import torch.nn as nn
    import torch.nn.functional as F

    D, H, FF, p = args.d_model, args.heads, args.ffn, args.dropout
    assert D % H == 0
    hd = D // H

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(D, 3 * D)
            self.out = nn.Linear(D, D)

    class FFN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(D, FF)
            self.fc2 = nn.Linear(FF, D)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D, eps=1e-5)
            self.attn = Attn()
            self.ln2 = nn.LayerNorm(D, eps=1e-5)
            self.ffn = FFN()

        def forward(self, x, add_mask):
            B, T, _ = x.shape
            a = self.ln1(x)
            q, k, v = F.linear(a, self.attn.qkv.weight, self.attn.qkv.bias).split(D, dim=-1)
            q = q.reshape(B, T, H, hd).transpose(1, 2).reshape(B * H, T, hd)
            k = k.reshape(B, T, H, hd).transpose(1, 2).reshape(B * H, T, hd)
            v = v.reshape(B, T, H, hd).transpose(1, 2).reshape(B * H, T, hd)
            # scores = mask + (q/sqrt(hd)) @ k^T in one baddbmm (as nn.MultiheadAttention does)
            s = torch.baddbmm(add_mask, q * (1.0 / math.sqrt(hd)), k.transpose(1, 2))
            pr = drop(torch.softmax(s, dim=-1), p, self.training)
            ctx = torch.bmm(pr, v).reshape(B, H, T, hd).transpose(1, 2).reshape(B, T, D)
            h = x + drop(self.attn.out(ctx), p, self.training)
            f = self.ffn.fc2(drop(F.gelu(self.ffn.fc1(self.ln2(h))), p, self.training))
            return h + drop(f, p, self.training)

    B, T = args.batch, args.seq
    if args.dropout_impl == "native":
        drop = F.dropout
    else:
        def drop(t, p, training):
            # Same distribution as F.dropout (keep with prob 1-p, scale kept values by
            # 1/(1-p)), but the mask comes from torch.rand (fast) instead of bernoulli_ (slow
            # serial CPU path in this build).
            if not training or p == 0.0:
                return t
            with torch.no_grad():
                m = torch.rand_like(t).ge_(p).mul_(1.0 / (1.0 - p))
            return t * m
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    x = torch.randn(B, T, D, generator=g)
    target = torch.randn(B, T, D, generator=g)
    pad = torch.zeros(B, T, dtype=torch.bool)
    npad = T // 8
    if npad > 0:
        pad[1::2, T - npad:] = True       # every other sequence: last 1/8 of tokens padded
    if args.impl == "custom":
        model = Block()
        add_mask = torch.zeros(B, 1, T).masked_fill(pad[:, None, :], float("-inf"))
        add_mask = add_mask[:, None].expand(B, H, 1, T).reshape(B * H, 1, T)

        def fwd():
            return model(x, add_mask)
    else:
        model = nn.TransformerEncoderLayer(D, H, dim_feedforward=FF, dropout=p, activation="gelu",
                                           layer_norm_eps=1e-5, batch_first=True, norm_first=True)

        def fwd():
            return model(x, src_key_padding_mask=pad)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(fwd(), target)
        loss.backward()
        opt.step()
        return loss
    return model, step


def run_train(args):
    import torch
    if args.intra_threads is not None:
        torch.set_num_threads(args.intra_threads)
    model, step = build(args, torch)
    torch_common.warm([step], args.warmup, args.warmup_s)
    per_step = []
    t0 = time.perf_counter()
    for _ in range(args.steps):
        ts = time.perf_counter()
        loss = step()
        per_step.append(time.perf_counter() - ts)
    dt = time.perf_counter() - t0
    per_step.sort()
    median_s = torch_common.median(per_step)
    nparams = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "steps_per_s": args.steps / dt, "ms_per_step": 1000.0 * dt / args.steps,
        "ms_per_step_median": 1000.0 * median_s, "ms_per_step_min": 1000.0 * per_step[0],
        "intra_threads": torch.get_num_threads(), "blas_threads": blas_threads_effective(),
        "torch": torch.__version__, "impl": args.impl,
        "impl_desc": ("own nn.Module (ln1/attn.qkv/attn.out/ln2/ffn.fc1/ffn.fc2)" if args.impl == "custom"
                      else "nn.TransformerEncoderLayer(norm_first=True, batch_first=True, activation='gelu')"),
        "batch": args.batch, "seq": args.seq, "d_model": args.d_model, "heads": args.heads,
        "ffn": args.ffn, "dropout": args.dropout, "steps": args.steps, "warmup": args.warmup,
        "params": nparams, "final_loss": float(loss.item()),
        "dropout_impl": args.dropout_impl if args.impl == "custom" else "native",
    }), flush=True)


def run_gemm(args):
    import torch
    if args.intra_threads is not None:
        torch.set_num_threads(args.intra_threads)
    g = torch.Generator().manual_seed(args.seed)
    res = {}
    for (M, K, N) in ((256, 256, 256), (1024, 1024, 1024), (4096, 256, 1024)):
        a = torch.randn(M, K, generator=g)
        b = torch.randn(K, N, generator=g)
        out = torch.empty(M, N)
        for _ in range(3):
            torch.mm(a, b, out=out)
        flops = 2.0 * M * N * K
        reps = max(3, int(2e10 / flops))    # ~ a few seconds at most
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b, out=out)
            best = min(best, (time.perf_counter() - t0) / reps)
        res[f"{M}x{K}x{N}"] = flops / best / 1e9
    print(json.dumps({"gemm_gflops": res, "layout": "MxKxN: A[M,K] @ B[K,N], float32, best of 3",
                      "intra_threads": torch.get_num_threads(), "blas_threads": blas_threads_effective(),
                      "torch": torch.__version__}), flush=True)


def main():
    args = parse_args()
    if args.pick_threads and args.gemm:
        raise SystemExit("--pick-threads applies to the training benchmark, not --gemm")
    if args.pick_threads:
        pick_threads(args)
        return
    maybe_reexec_for_blas(args)
    if args.gemm:
        run_gemm(args)
    else:
        run_train(args)


if __name__ == "__main__":
    main()
