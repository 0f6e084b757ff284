#!/usr/bin/python3
"""PyTorch side of the mixture-of-experts benchmark (`npm run bench:moe`; called as a subprocess).

Run with Debian's system interpreter (that is where PyTorch is installed):

    /usr/bin/python3 bench/torch_moe.py [--tokens 2048] [--d-model 256] [--ffn 1024] \
        [--experts 8] [--capacity-factor 1.25] [--steps 20] [--warmup 3] [--impl hf|dense|both] \
        [--intra-threads k] [--blas-threads k] [--pick-threads] [--check]

One Switch Transformer FFN layer (top-1 routing), float32, forward + backward per timed
iteration (no optimizer): x ~ randn [tokens, d_model] (requires grad, as inside a network),
a fixed random `upstream` [tokens, d_model], and

    L = sum(out * upstream) + 0.01 * lb + 0.001 * z

with lb = E * sum_e f_e * P_e (Switch eq. 4: f_e = fraction of tokens whose top-1 expert is e,
counted before capacity dropping, a constant; P_e = mean router probability of e) and
z = mean_n logsumexp(logits_n)^2 (ST-MoE router z-loss). Each iteration is
zero_grad(set_to_none=True), x.grad = None, forward, L.backward(). GELU is exact (erf).
Semantics are Pathwise's SwitchFFN in evaluation style (no jitter, no expert dropout):
router logits = x @ Wr^T (no bias), probs = softmax, expert = argmax (lowest index on ties),
gate = its probability, capacity C = ceil(capacity_factor * tokens / E) (320 for the defaults),
kept in token order; a dropped token's output row is 0.

Implementations (--impl; "both", the default, times them interleaved in one process):
  * "hf": written the Hugging Face way, as transformers' SwitchTransformersTop1Router +
    SwitchTransformersSparseMLP: router -> one-hot expert mask, capacity via cumsum priority
    (token_priority <= C), then
        for idx, expert in enumerate(self.experts):
            token_indices = router_mask[:, :, idx].bool()
            next_states[token_indices] = expert(hidden_states[token_indices])
    then multiplied by the top-1 router probability. Experts are an nn.ModuleList of 8 modules
    with nn.Linear(256, 1024) -> GELU -> nn.Linear(1024, 256) (with biases, as Pathwise's
    experts). One difference from HF: next_states starts as zeros, not hidden_states.clone()
    (HF passes a dropped token through as x * prob; Pathwise gives it 0).
  * "dense": a dense FFN with the same activated FLOPs per token: one Linear(256, 1024) + GELU +
    Linear(1024, 256) applied to all tokens, plus the same router (the 256x8 matmul, softmax, lb
    and z losses) so that the two differ only by the dispatch; its output is not gated.
hf_ms and dense_ms are medians of the per-iteration times (ms); means and minima are reported
too. The last line printed is one JSON object:

    {"hf_ms": ..., "dense_ms": ..., "intra_threads": k, "blas_threads": k, "torch": "1.13...",
     "ms_per_step_median": hf_ms + dense_ms (what --pick-threads minimises), ...}

(an impl not run reports null). --check verifies the "hf" module in float64 at a small size
against an explicit per-token loop of the semantics above (output and every gradient to 1e-10,
with a forced capacity drop) and exits.

Threads: see torch_common.py (--intra-threads, --blas-threads re-executes with
OPENBLAS_NUM_THREADS, --pick-threads runs short trials of (intra, blas) in
{(1,2), (2,1), (2,2), (1,1)} and then the full measurement with the fastest).
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402

LB_WEIGHT = 0.01
Z_WEIGHT = 0.001


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--capacity-factor", type=float, default=1.25)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--impl", choices=["hf", "dense", "both"], default="both")
    torch_common.add_thread_args(p)  # --intra-threads --blas-threads --pick-threads --pick-steps --pick-warmup
    p.add_argument("--check", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def capacity(cf, tokens, experts, k=1):
    return int(math.ceil(cf * tokens * k / experts))


def build_modules(torch, D, FF, E, C):
    import torch.nn as nn
    import torch.nn.functional as F

    class Expert(nn.Module):
        """SwitchTransformersDenseActDense with biases and exact GELU."""

        def __init__(self):
            super().__init__()
            self.wi = nn.Linear(D, FF)
            self.wo = nn.Linear(FF, D)

        def forward(self, h):
            return self.wo(F.gelu(self.wi(h)))

    class Top1Router(nn.Module):
        """SwitchTransformersTop1Router without jitter; also returns probs for the lb loss."""

        def __init__(self):
            super().__init__()
            self.classifier = nn.Linear(D, E, bias=False)

        def forward(self, hidden_states):
            router_logits = self.classifier(hidden_states)                # [B, T, E]
            router_probs = torch.softmax(router_logits, dim=-1)
            expert_index = torch.argmax(router_probs, dim=-1)
            expert_index = F.one_hot(expert_index, num_classes=E)       # [B, T, E]
            top1_mask = expert_index
            token_priority = torch.cumsum(expert_index, dim=-2)
            expert_capacity_mask = token_priority <= C
            expert_index = expert_index * expert_capacity_mask
            gate = torch.max(router_probs, dim=-1).values.unsqueeze(-1)  # [B, T, 1]
            return expert_index, gate, router_logits, router_probs, top1_mask

    class SparseMLP(nn.Module):
        """SwitchTransformersSparseMLP (next_states from zeros: a dropped token gives 0)."""

        def __init__(self):
            super().__init__()
            self.router = Top1Router()
            self.experts = nn.ModuleList([Expert() for _ in range(E)])

        def forward(self, hidden_states):
            router_mask, router_probs, router_logits, probs, top1_mask = self.router(hidden_states)
            next_states = torch.zeros_like(hidden_states)
            for idx, expert in enumerate(self.experts):
                token_indices = router_mask[:, :, idx].bool()
                next_states[token_indices] = expert(hidden_states[token_indices]).to(next_states.dtype)
            hidden_states = router_probs * next_states
            return hidden_states, (router_logits, probs, top1_mask, router_mask)

    class DenseFFN(nn.Module):
        def __init__(self):
            super().__init__()
            self.router = nn.Linear(D, E, bias=False)
            self.fc1 = nn.Linear(D, FF)
            self.fc2 = nn.Linear(FF, D)

        def forward(self, x):
            logits = self.router(x)
            probs = torch.softmax(logits, dim=-1)
            top1_mask = F.one_hot(torch.argmax(probs, dim=-1), num_classes=E)
            return self.fc2(F.gelu(self.fc1(x))), (logits, probs, top1_mask, None)

    return SparseMLP, DenseFFN


def aux_losses(torch, logits, probs, top1_mask):
    E = logits.shape[-1]
    f = top1_mask.reshape(-1, E).to(probs.dtype).mean(dim=0)          # constant (no grad)
    P = probs.reshape(-1, E).mean(dim=0)
    lb = E * (f * P).sum()
    z = torch.logsumexp(logits.reshape(-1, E), dim=-1).pow(2).mean()
    return lb, z


def make_step(torch, model, x, upstream):
    def step():
        model.zero_grad(set_to_none=True)
        x.grad = None
        out, (logits, probs, top1_mask, _) = model(x)
        lb, z = aux_losses(torch, logits, probs, top1_mask)
        loss = (out * upstream).sum() + LB_WEIGHT * lb + Z_WEIGHT * z
        loss.backward()
        return loss
    return step


def run_bench(args):
    import torch
    if args.intra_threads is not None:
        torch.set_num_threads(args.intra_threads)
    torch.manual_seed(args.seed)
    N, D, FF, E = args.tokens, args.d_model, args.ffn, args.experts
    C = capacity(args.capacity_factor, N, E)
    SparseMLP, DenseFFN = build_modules(torch, D, FF, E, C)
    g = torch.Generator().manual_seed(args.seed + 1)
    # HF's layout: hidden_states [batch, seq, d]; the tokens form one routing group
    x = torch.randn(1, N, D, generator=g).requires_grad_(True)
    upstream = torch.randn(1, N, D, generator=g)
    impls = ["hf", "dense"] if args.impl == "both" else [args.impl]
    models = {"hf": SparseMLP(), "dense": DenseFFN()}
    steps = {name: make_step(torch, models[name], x, upstream) for name in impls}
    with torch.no_grad():
        _, (_, _, _, mask) = models["hf"](x)
        kept = int(mask.sum())
        per_expert = mask.reshape(N, E).sum(dim=0).tolist()
    torch_common.warm([steps[name] for name in impls], args.warmup, args.warmup_s)
    times = {name: [] for name in impls}
    losses = {}
    for _ in range(args.steps):
        for name in impls:       # interleaved: both see the same machine load
            ts = time.perf_counter()
            losses[name] = steps[name]()
            times[name].append(time.perf_counter() - ts)
    res = {}
    for name in ("hf", "dense"):
        t = times.get(name)
        res[f"{name}_ms"] = 1000.0 * torch_common.median(t) if t else None
        res[f"{name}_ms_mean"] = 1000.0 * sum(t) / len(t) if t else None
        res[f"{name}_ms_min"] = 1000.0 * min(t) if t else None
        res[f"{name}_loss"] = float(losses[name].item()) if t else None
    med = sum(res[f"{n}_ms"] for n in impls)
    mean = sum(res[f"{n}_ms_mean"] for n in impls)
    print(json.dumps(dict(res, **{
        "hf_over_dense": (res["hf_ms"] / res["dense_ms"]) if args.impl == "both" else None,
        "intra_threads": torch.get_num_threads(),
        "blas_threads": torch_common.blas_threads_effective(),
        "torch": torch.__version__, "impl": args.impl,
        "ms_per_step_median": med, "steps_per_s": 1000.0 / mean,
        "tokens": N, "d_model": D, "ffn": FF, "experts": E, "top_k": 1,
        "capacity_factor": args.capacity_factor, "capacity": C, "kept_tokens": kept,
        "dropped_tokens": N - kept, "tokens_per_expert_kept": per_expert,
        "lb_weight": LB_WEIGHT, "z_weight": Z_WEIGHT, "steps": args.steps, "warmup": args.warmup,
    })), flush=True)


def run_check(args):
    """float64, small: the "hf" module against an explicit per-token loop of the semantics."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    N, D, FF, E, cf = 24, 8, 16, 4, 1.0
    C = capacity(cf, N, E)
    SparseMLP, _ = build_modules(torch, D, FF, E, C)
    m = SparseMLP().double()
    with torch.no_grad():
        for q in m.parameters():
            q.copy_(torch.randn_like(q) * 0.3)
        m.router.classifier.weight[0] += 1.0    # with x[:, 0] ~ 1: expert 0 overflows
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(1, N, D, generator=g, dtype=torch.float64)
    x0[..., 0] = 1.0 + 0.1 * x0[..., 0]
    up = torch.randn(1, N, D, generator=g, dtype=torch.float64)
    params = list(m.parameters())

    x = x0.clone().requires_grad_(True)
    out, (logits, probs, top1_mask, mask) = m(x)
    lb, z = aux_losses(torch, logits, probs, top1_mask)
    La = (out * up).sum() + LB_WEIGHT * lb + Z_WEIGHT * z
    ga = torch.autograd.grad(La, [x] + params)

    # the reference: one token at a time
    xr = x0.clone().requires_grad_(True)
    Wr = m.router.classifier.weight
    counts = [0] * E
    rows, top1, pr, lse = [], [], [], []
    for n in range(N):
        lg = Wr @ xr[0, n]
        p = torch.softmax(lg, dim=0)
        e = max(range(E), key=lambda i: (p[i].item(), -i))
        top1.append(e)
        pr.append(p)
        lse.append(torch.logsumexp(lg, dim=0))
        if counts[e] < C:
            counts[e] += 1
            ex = m.experts[e]
            rows.append(p[e] * ex.wo(F.gelu(ex.wi(xr[0, n]))))
        else:
            rows.append(torch.zeros(D, dtype=torch.float64))
    out_r = torch.stack(rows)[None]
    f = [top1.count(e) / N for e in range(E)]
    lb_r = E * sum(f[e] * sum(pr[n][e] for n in range(N)) / N for e in range(E))
    z_r = sum(v ** 2 for v in lse) / N
    Lb = (out_r * up).sum() + LB_WEIGHT * lb_r + Z_WEIGHT * z_r
    gb = torch.autograd.grad(Lb, [xr] + params)
    dropped = N - int(mask.sum())
    assert dropped > 0, "check case should drop tokens"
    err = max([(out - out_r).abs().max().item(), abs(La.item() - Lb.item())]
              + [(a - b).abs().max().item() for a, b in zip(ga, gb)])
    if not err < 1e-10:
        raise SystemExit(f"check failed: max abs err {err}")
    print(json.dumps({"check": "ok", "float64_hf_vs_loop_max_abs_err": err, "capacity": C,
                      "dropped_tokens": dropped, "counts": counts}), flush=True)


def main():
    args = parse_args()
    if args.pick_threads and args.check:
        raise SystemExit("--pick-threads applies to the benchmark, not --check")
    if args.pick_threads:
        def line(r):
            parts = [f"{k} {r[k]:.1f} ms" for k in ("hf_ms", "dense_ms") if r.get(k) is not None]
            return ", ".join(parts) + f" (sum of medians {r['ms_per_step_median']:.1f} ms)"
        torch_common.pick_threads(args, __file__, trial_line=line,
                                  trial_keys=("hf_ms", "dense_ms", "steps_per_s", "ms_per_step_median"))
        return
    torch_common.maybe_reexec_for_blas(args, __file__)
    if args.check:
        run_check(args)
    else:
        run_bench(args)


if __name__ == "__main__":
    main()
