#!/usr/bin/python3
"""PyTorch side of the inference benchmark (called by the TypeScript benchmark as a subprocess).

Run with Debian's system interpreter (that is where PyTorch is installed):

    /usr/bin/python3 bench/torch_infer.py --model runs/quickstart/model --task sent \
        --shapes 1x32,32x128 [--iters N] [--warmup N] [--seconds S] [--quantized 0|1] \
        [--qengine auto|fbgemm|x86|onednn|qnnpack] [--qconfig per_tensor|per_channel] \
        [--pick-threads] [--intra-threads k] [--blas-threads k] \
        [--parity-ids ids.json --parity-out logits.json]

What it measures. A Pathwise model folder of the "encoder" kind (or a pretrained "base", which
has no task) is rebuilt as an own torch nn.Module, float32, eval mode, run under
torch.inference_mode(): embeddings (word + learned position + segment 0; post-LN: then
embeddings.norm), the blocks (pre-LN: h = x + attn(ln1(x)), y = h + ffn(ln2(h)); post-LN:
h = ln1(x + attn(x)), y = ln2(h + ffn(h))), final_norm (pre-LN), then the head of --task:
  * classification / pair_classification / regression: pooling ("mean" over the tokens, which
    are all real here, or "cls" = position 0; a task without "pooling" is "cls", as Pathwise
    reads it) -> pooler Linear -> tanh -> out Linear: logits [B, C];
  * tagging: out Linear at every position: logits [B*T, C] (Pathwise scores the first subtoken
    of each word; the benchmark's inputs have no words, so every token is scored).
A head's lexical part (heads.<task>.bag.*, bag_out.*) and Naive Bayes prior (prior.*) are
ignored: the benchmark measures the encoder and the pooler/out head only (the JSON lists what
was ignored under "ignored_tensors"; with any, Pathwise's full logits differ from these).
Attention: the fused QKV Linear's output rows are Q, then K, then V (each D wide, head h at
columns h*dh..(h+1)*dh), softmax(Q K^T / sqrt(dh)) V with torch.matmul (1.13 has no
F.scaled_dot_product_attention), no mask (no padding). GELU: "gelu" = exact erf F.gelu,
"gelu_tanh" = F.gelu(approximate="tanh"), "relu". LayerNorm eps = layerNormEps.

Inputs per shape BxT (--shapes, e.g. 1x32,32x128): token ids uniform in [5, vocab) from a fixed
seed (--seed, per shape), type ids 0, no padding. For each shape and variant, --warmup untimed
forwards (encoder + head logits), then --iters timed ones; without --iters the count is chosen
so that one variant of one shape takes about --seconds (default 4) from a timed calibration
forward. Reported per shape: <v>_tokens_per_s = B*T*iters / seconds, <v>_ms = mean ms per
batch, <v>_ms_median = median of the per-iteration times, <v>_iters; v = fp32, and int8 with
--quantized 1.

int8 (--quantized 1): torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
on a copy of the fp32 module: every linear is an nn.Linear submodule (attn.qkv, attn.out,
ffn.fc1, ffn.fc2, every Switch expert's fc1/fc2, the head's pooler and out), so all of them run
as dynamically quantized int8 GEMMs (weights int8 per tensor, symmetric; activations quantized
per batch on the fly). --qconfig per_channel uses per_channel_dynamic_qconfig instead (one
weight scale per output row, as Pathwise's own int8 weights). Embeddings, LayerNorm, softmax,
attention's two batched matmuls and the Switch router stay float32 (the router is a plain
parameter used with F.linear, as Pathwise routes in float32: quantizing it could change which
expert a token goes to). Engine: --qengine auto takes fbgemm when this build has it, else
"x86", else onednn, else qnnpack (supported_engines are printed and reported). Debian's 1.13
build has no fbgemm (supported: qnnpack, onednn, none), so onednn is used there: on the reference
2-core AVX-512 machine qnnpack ran an FFN (256 -> 1024 -> 256) 5-10x slower than fp32 (and logs a
glog warning on every call), onednn at about fp32 speed; on the whole quickstart model onednn int8
was about 1.3-2x faster than fp32 at 32x128 and about level at 1x32 (busy machine, noisy).
Accuracy: PyTorch's dynamic Linear quantizes activations with reduce_range=True (7 bits on
onednn/fbgemm), so int8 logits differ from fp32 ones by ~1-3% of their scale (quickstart "sent":
max |int8 - fp32| 0.014-0.03 on logits up to ~0.6; the argmax agreed on every parity row).

Serving (--serve, with --variants one of fp32/int8 and that variant's thread flags): after building
the models, the script reads one request per stdin line, "<variant> <B>x<T> <iters>", and answers
each with one JSON line {"ms": [...]}: the per-forward times of iters forwards (after one untimed
forward) on the same inputs as above. bench/infer.ts keeps one such worker per variant and
alternates it with Pathwise in short slices, so that both are timed under the same conditions.

Parity (--parity-ids FILE --parity-out FILE): FILE holds {"ids": [[...], ...]}, one B x T batch
of real tokens; the output file gets {"fp32": logits, "int8": logits (with --quantized 1 only),
"shape": [B, T], "task": ..., "logits_shape": [...]}, logits as nested lists, so the TypeScript
side can check that PyTorch computes the function Pathwise does.

Switch (mixture-of-experts) layers, config "sparse": {"switch": {experts, topK, every,
evalCapacityFactor, normalizeTopK, ...}}: layer i is a Switch layer when (i+1) % every == 0; its
tensors layers.<i>.ffn.router.weight [E, D] (no bias) and layers.<i>.ffn.experts.{w1 [E, F, D],
b1 [E, F], w2 [E, D, F], b2 [E, D]} become a float32 router and E experts of nn.Linear fc1/fc2.
As Pathwise's SwitchFFN in eval mode: probs = softmax(x Wr^T); top-k experts by probability
(k = 1: argmax); gate = its probability (k > 1 with normalizeTopK: renormalised to sum 1);
capacity C = ceil(evalCapacityFactor * N * k / E) over the N = B*T tokens of the batch (null:
dropless); assignments are served slot-major, then in token order, and those over an expert's
capacity are dropped (a token with every choice dropped gets 0 from the layer: the residual
carries it); output = sum of gate * expert(x). SkillNet skill layers and "components" folders
are not supported (the script says so and exits).

Safetensors are parsed here (no safetensors package): 8-byte little-endian header length, JSON
header, raw little-endian data; F32, F16, BF16, F64, I64, I32, I16, I8, U8. Only the tensors the
model needs are read. A folder written by `pathwise quantize` stores a weight as <name> I8 plus
<name>_scale F32, one scale per row (every axis but the last; src/model/quantized_weights.ts):
such a weight is dequantized to float32 (q * scale) when read, so the fp32 model computes with
exactly the weights the folder holds.

Checked against Pathwise (its TaskPath.logits on the same ids, all real tokens; fp32 max abs
difference in logits): runs/quickstart/model "sent" (pre-LN, GELU, mean pooling): 1.5e-7; a
tiny from-scratch Switch model (4 experts every layer, top-1, evalCapacityFactor 1.0, so tokens
were dropped: with the capacity removed on the PyTorch side only, the difference grew to 1e-3):
4e-9; the same folder edited to post-LN + gelu_tanh + cls pooling + top-2 (normalizeTopK),
to relu + top-2 unnormalised at capacity factor 0.6, and to top-3 at 1.5: 4e-9 each; folders
written by `pathwise quantize` (I8 + _scale, stacked experts included) agree to the size of
Pathwise's int8 activation rounding (1e-4 / 9e-3). Not checked against Pathwise: tagging heads
(the benchmark's inputs have no words) and a stored BERT-style post-LN folder of real weights.

The last line printed is one JSON object:

    {"torch": "1.13...", "model": DIR, "task": NAME, "shapes": {"1x32": {"fp32_tokens_per_s":
     ..., "fp32_ms": ..., "fp32_ms_median": ..., "int8_tokens_per_s": ..., ...}, ...},
     "threads": {"fp32": {"intra": k, "blas": k}, "int8": {...}, "picked": bool, "trials": [...]},
     "intra_threads": k, "blas_threads": k (the fp32 setting), "quantized_engine": "onednn",
     "supported_engines": [...], "params": N, ...}

Threads: as torch_engine.py / torch_common.py. Intra-op (OpenMP) threads: --intra-threads k ->
torch.set_num_threads(k) (this build defaults to 1 on the 2-core machine); BLAS threads:
OPENBLAS_NUM_THREADS must be set before torch loads, so --blas-threads k re-executes the script
with it. Without either flag nothing is set (torch's and OpenBLAS's defaults), as the other
scripts. --pick-threads runs a short trial (--pick-steps timed forwards after --pick-warmup, per
shape and variant; subprocesses) of each (intra, blas) in {(1,2), (2,1), (2,2), (1,1)}, picks the
fastest setting per variant (fp32, int8) by the geometric mean over shapes of the median
per-batch time, then measures each variant at its own setting (one subprocess when both picked
the same) and prints the merged JSON (with "trials"). --steps is accepted as a synonym of
--iters (bench/common.ts's torchReference passes --steps and --warmup with --pick-threads).
"""

import argparse
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common  # noqa: E402  (thread handling shared with the other PyTorch scripts)
from torch_common import PICK_COMBOS, blas_threads_effective  # noqa: E402

DEFAULT_SHAPES = "1x32,32x128"
DEFAULT_SECONDS = 4.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder (config.json + model.safetensors)")
    p.add_argument("--task", default=None, help="task whose head is run (default: the folder's first)")
    p.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated BxT batch shapes")
    p.add_argument("--iters", "--steps", dest="iters", type=int, default=None,
                   help="timed forwards per shape and variant (default: about --seconds worth)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                   help="target time per shape and variant when --iters is not given")
    p.add_argument("--quantized", type=int, choices=[0, 1], default=0)
    p.add_argument("--qengine", default="auto", help="auto|fbgemm|x86|onednn|qnnpack")
    p.add_argument("--qconfig", choices=["per_tensor", "per_channel"], default="per_tensor")
    p.add_argument("--variants", default=None, help=argparse.SUPPRESS)  # internal: fp32,int8 subset to time
    p.add_argument("--parity-ids", default=None)
    p.add_argument("--parity-out", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--serve", action="store_true",
                   help="after building the models, answer timing requests on stdin (see serve())")
    torch_common.add_thread_args(p, pick_steps=5, pick_warmup=2)
    args = p.parse_args(argv)
    if (args.parity_ids is None) != (args.parity_out is None):
        p.error("--parity-ids and --parity-out go together")
    args.shape_list = []
    for s in args.shapes.split(","):
        s = s.strip()
        if not s:
            continue
        try:
            b, t = (int(v) for v in s.lower().split("x"))
        except ValueError:
            p.error(f"--shapes: {s!r} is not BxT")
        if b < 1 or t < 1:
            p.error(f"--shapes: {s!r} must be positive")
        args.shape_list.append((b, t))
    if not args.shape_list:
        p.error("--shapes: none given")
    return args


def variants_of(args):
    want = ["fp32", "int8"] if args.quantized else ["fp32"]
    if args.variants:
        asked = [v for v in args.variants.split(",") if v]
        bad = [v for v in asked if v not in want]
        if bad:
            raise SystemExit(f"--variants {bad} not available (int8 needs --quantized 1)")
        want = asked
    return want


# ----------------------------------------------------------------------------- safetensors

_DTYPES = {  # safetensors dtype -> (torch dtype name, bytes)
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1), "U8": ("uint8", 1),
}


class Safetensors:
    """A safetensors file: the header at open, tensor data on demand (torch.frombuffer)."""

    def __init__(self, path):
        if sys.byteorder != "little":
            raise SystemExit("safetensors data is little-endian; this reader assumes a little-endian machine")
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.header = json.loads(raw[8:8 + n].decode("utf-8"))
        self.header.pop("__metadata__", None)
        self.data = bytearray(raw[8 + n:])  # writable, so torch.frombuffer does not warn
        self.path = path

    def names(self):
        return list(self.header)

    def get(self, name, torch):
        h = self.header[name]
        if h["dtype"] not in _DTYPES:
            raise SystemExit(f"{self.path}: {name}: dtype {h['dtype']} not supported")
        tname, size = _DTYPES[h["dtype"]]
        a, b = h["data_offsets"]
        count = math.prod(h["shape"])
        if b - a != count * size:
            raise SystemExit(f"{self.path}: {name}: {b - a} bytes for shape {h['shape']} {h['dtype']}")
        dt = getattr(torch, tname)
        if count == 0:
            return torch.empty(h["shape"], dtype=dt)
        return torch.frombuffer(self.data, dtype=dt, count=count, offset=a).reshape(h["shape"]).clone()

    def float(self, name, torch, shape=None):
        """A parameter as float32 (F16/BF16/F64 converted; I8 dequantized with a per-row scale)."""
        if name not in self.header:
            raise SystemExit(f"{self.path}: tensor {name} is missing")
        t = self.get(name, torch)
        if t.dtype == torch.int8:
            # `pathwise quantize` (src/model/quantized_weights.ts): <name> I8, <name>_scale F32
            # with one scale per row (every axis but the last)
            sname = name + "_scale"
            if sname not in self.header or t.dim() < 2:
                raise SystemExit(f"{self.path}: {name} is int8 with no per-row scale {sname}")
            scale = self.get(sname, torch).float().reshape(-1)
            rows = math.prod(t.shape[:-1])
            if scale.numel() != rows:
                raise SystemExit(f"{self.path}: {sname} has {scale.numel()} scales for {rows} rows of {name}")
            t = (t.float().reshape(rows, t.shape[-1]) * scale[:, None]).reshape(t.shape)
        t = t.float()
        if shape is not None and list(t.shape) != list(shape):
            raise SystemExit(f"{self.path}: {name} has shape {list(t.shape)}, expected {list(shape)}")
        return t


# ----------------------------------------------------------------------------- the model

SWITCH_DEFAULTS = {"experts": 8, "topK": 1, "every": 2, "evalCapacityFactor": 2.0, "normalizeTopK": True}
ENCODER_DEFAULTS = {"vocabSize": 16384, "maxPositions": 128, "typeVocabSize": 2, "dModel": 256, "layers": 4,
                    "heads": 4, "ffn": 1024, "activation": "gelu", "layerNormEps": 1e-5, "normPlacement": "pre"}


def read_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        raw = json.load(f)
    if raw.get("layout") == "components" or "PathSystem" in (raw.get("architectures") or []):
        raise SystemExit(f"{path}: a \"components\" folder (add-task paths); only \"encoder\" folders "
                         "and pretrained bases are supported")
    cfg = dict(ENCODER_DEFAULTS)
    cfg.update({k: raw[k] for k in ENCODER_DEFAULTS if k in raw})
    sparse = raw.get("sparse") or {}
    if sparse.get("skills"):
        raise SystemExit(f"{path}: SkillNet skill layers are not supported")
    sw = sparse.get("switch")
    cfg["switch"] = None if not sw else {**SWITCH_DEFAULTS, **sw}
    cfg["tasks"] = raw.get("tasks") or []
    return cfg, raw


def build_model(cfg, task, st, torch):
    """The fp32 nn.Module for `task` (None: the encoder alone, logits = hidden states),
    loaded from the Safetensors `st`; also the names of the head tensors ignored."""
    import torch.nn as nn
    import torch.nn.functional as F

    D, H, FF, L = cfg["dModel"], cfg["heads"], cfg["ffn"], cfg["layers"]
    eps, post = cfg["layerNormEps"], cfg["normPlacement"] == "post"
    if D % H:
        raise SystemExit(f"dModel {D} is not divisible by heads {H}")
    dh = D // H
    act_name = cfg["activation"]
    if act_name == "gelu":
        act = F.gelu
    elif act_name == "gelu_tanh":
        def act(x):
            return F.gelu(x, approximate="tanh")
    elif act_name == "relu":
        act = F.relu
    else:
        raise SystemExit(f"activation {act_name!r} not supported")

    def load_linear(mod, prefix, n_out, n_in, bias=True):
        with torch.no_grad():
            mod.weight.copy_(st.float(prefix + ".weight", torch, [n_out, n_in]))
            if bias:
                mod.bias.copy_(st.float(prefix + ".bias", torch, [n_out]))

    def load_norm(mod, prefix):
        with torch.no_grad():
            mod.weight.copy_(st.float(prefix + ".weight", torch, [D]))
            mod.bias.copy_(st.float(prefix + ".bias", torch, [D]))

    class Attention(nn.Module):
        def __init__(self, prefix):
            super().__init__()
            self.qkv = nn.Linear(D, 3 * D)
            self.out = nn.Linear(D, D)
            load_linear(self.qkv, prefix + ".qkv", 3 * D, D)
            load_linear(self.out, prefix + ".out", D, D)

        def forward(self, x):
            B, T, _ = x.shape
            qkv = self.qkv(x).reshape(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)  # [3, B, H, T, dh]
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = torch.matmul(q, k.transpose(-1, -2)).mul_(1.0 / math.sqrt(dh))  # [B, H, T, T]
            ctx = torch.matmul(torch.softmax(s, dim=-1), v)                      # [B, H, T, dh]
            return self.out(ctx.transpose(1, 2).reshape(B, T, D))

    class FeedForward(nn.Module):
        def __init__(self, prefix):
            super().__init__()
            self.fc1 = nn.Linear(D, FF)
            self.fc2 = nn.Linear(FF, D)
            if prefix is not None:
                load_linear(self.fc1, prefix + ".fc1", FF, D)
                load_linear(self.fc2, prefix + ".fc2", D, FF)

        def forward(self, x):
            return self.fc2(act(self.fc1(x)))

    class SwitchFFN(nn.Module):
        def __init__(self, prefix, sw):
            super().__init__()
            E = self.E = int(sw["experts"])
            self.k = int(sw["topK"])
            self.factor = sw["evalCapacityFactor"]
            self.normalize = bool(sw["normalizeTopK"])
            # float32 router, kept out of quantize_dynamic's reach (not an nn.Linear)
            self.router_weight = nn.Parameter(st.float(prefix + ".router.weight", torch, [E, D]))
            w1 = st.float(prefix + ".experts.w1", torch, [E, FF, D])
            b1 = st.float(prefix + ".experts.b1", torch, [E, FF])
            w2 = st.float(prefix + ".experts.w2", torch, [E, D, FF])
            b2 = st.float(prefix + ".experts.b2", torch, [E, D])
            self.experts = nn.ModuleList()
            for e in range(E):
                ex = FeedForward(None)
                with torch.no_grad():
                    ex.fc1.weight.copy_(w1[e])
                    ex.fc1.bias.copy_(b1[e])
                    ex.fc2.weight.copy_(w2[e])
                    ex.fc2.bias.copy_(b2[e])
                self.experts.append(ex)

        def forward(self, x):
            shape = x.shape
            xf = x.reshape(-1, D)
            N, k, E = xf.shape[0], self.k, self.E
            probs = torch.softmax(F.linear(xf, self.router_weight), dim=-1)   # [N, E]
            if k == 1:
                gate, expert = probs.max(dim=-1, keepdim=True)                 # [N, 1]
            else:
                gate, expert = torch.topk(probs, k, dim=-1)                    # descending
                if self.normalize:
                    gate = gate / gate.sum(dim=-1, keepdim=True)
            # slot-major, then token order: assignment a = j*N + n
            ex_flat = expert.t().reshape(-1)
            gate_flat = gate.t().reshape(-1)
            tok_flat = torch.arange(N).repeat(k)
            if self.factor is None:
                kept = torch.ones_like(ex_flat, dtype=torch.bool)
            else:
                cap = math.ceil(self.factor * N * k / E)
                onehot = F.one_hot(ex_flat, E)
                pos = (onehot.cumsum(0) * onehot).sum(-1) - 1                  # rank within its expert
                kept = pos < cap
            out = torch.zeros_like(xf)
            for e in range(E):
                sel = torch.nonzero(kept & (ex_flat == e)).reshape(-1)
                if sel.numel() == 0:
                    continue
                tok = tok_flat[sel]
                y = self.experts[e](xf.index_select(0, tok)) * gate_flat[sel].unsqueeze(-1)
                out.index_add_(0, tok, y)
            return out.reshape(shape)

    class Block(nn.Module):
        def __init__(self, i):
            super().__init__()
            pre = f"layers.{i}"
            self.ln1 = nn.LayerNorm(D, eps=eps)
            self.ln2 = nn.LayerNorm(D, eps=eps)
            load_norm(self.ln1, pre + ".ln1")
            load_norm(self.ln2, pre + ".ln2")
            self.attn = Attention(pre + ".attn")
            sw = cfg["switch"]
            if sw and (i + 1) % int(sw["every"]) == 0:
                self.ffn = SwitchFFN(pre + ".ffn", sw)
            else:
                self.ffn = FeedForward(pre + ".ffn")

        def forward(self, x):
            if post:
                h = self.ln1(x + self.attn(x))
                return self.ln2(h + self.ffn(h))
            h = x + self.attn(self.ln1(x))
            return h + self.ffn(self.ln2(h))

    class Head(nn.Module):
        def __init__(self, spec):
            super().__init__()
            pre = f"heads.{spec['name']}"
            self.kind = spec.get("type", "classification")
            self.pooling = spec.get("pooling") or "cls"
            if self.pooling not in ("cls", "mean"):
                raise SystemExit(f"task {spec['name']}: pooling {self.pooling!r} not supported")
            outputs = st.header[pre + ".out.weight"]["shape"][0] if pre + ".out.weight" in st.header else None
            if outputs is None:
                raise SystemExit(f"{st.path}: no {pre}.out.weight")
            self.pooler = None
            if self.kind != "tagging":
                self.pooler = nn.Linear(D, D)
                load_linear(self.pooler, pre + ".pooler", D, D)
            self.out = nn.Linear(D, outputs)
            load_linear(self.out, pre + ".out", outputs, D)

        def forward(self, h):
            B, T, _ = h.shape
            if self.kind == "tagging":
                return self.out(h.reshape(B * T, D))
            summary = h.mean(dim=1) if self.pooling == "mean" else h[:, 0]
            return self.out(torch.tanh(self.pooler(summary)))

    class Model(nn.Module):
        def __init__(self, spec):
            super().__init__()
            self.word = nn.Embedding(cfg["vocabSize"], D)
            self.position = nn.Embedding(cfg["maxPositions"], D)
            self.segment = nn.Embedding(cfg["typeVocabSize"], D)
            with torch.no_grad():
                self.word.weight.copy_(st.float("embeddings.word.weight", torch, [cfg["vocabSize"], D]))
                self.position.weight.copy_(st.float("embeddings.position.weight", torch, [cfg["maxPositions"], D]))
                self.segment.weight.copy_(st.float("embeddings.type.weight", torch, [cfg["typeVocabSize"], D]))
            self.emb_norm = None
            if post:
                self.emb_norm = nn.LayerNorm(D, eps=eps)
                load_norm(self.emb_norm, "embeddings.norm")
            self.layers = nn.ModuleList([Block(i) for i in range(L)])
            self.final_norm = None
            if not post:
                self.final_norm = nn.LayerNorm(D, eps=eps)
                load_norm(self.final_norm, "final_norm")
            self.head = Head(spec) if spec is not None else None

        def forward(self, ids, type_ids):
            T = ids.shape[1]
            if T > cfg["maxPositions"]:
                raise SystemExit(f"sequence length {T} exceeds maxPositions {cfg['maxPositions']}")
            x = self.word(ids) + self.position.weight[:T] + self.segment(type_ids)
            if self.emb_norm is not None:
                x = self.emb_norm(x)
            for blk in self.layers:
                x = blk(x)
            if self.final_norm is not None:
                x = self.final_norm(x)
            return self.head(x) if self.head is not None else x

    spec = None
    ignored = []
    if task is not None:
        specs = [t for t in cfg["tasks"] if t.get("name") == task]
        if not specs:
            raise SystemExit(f"no task {task!r} in the folder (tasks: {[t.get('name') for t in cfg['tasks']]})")
        spec = specs[0]
        used = {f"heads.{task}.{p}.{w}{q}" for p in ("pooler", "out") for w in ("weight", "bias") for q in ("", "_scale")}
        ignored = sorted(n for n in st.names() if n.startswith(f"heads.{task}.") and n not in used)
    model = Model(spec).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, spec, ignored


# ----------------------------------------------------------------------------- running

def pick_qengine(torch, want):
    supported = list(torch.backends.quantized.supported_engines)
    if want == "auto":
        for e in ("fbgemm", "x86", "onednn", "qnnpack"):
            if e in supported:
                want = e
                break
    if want not in supported:
        raise SystemExit(f"quantized engine {want!r} not in supported_engines {supported}")
    torch.backends.quantized.engine = want
    return want, supported


def quantize(model, torch, qconfig):
    import torch.nn as nn
    if qconfig == "per_channel":
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig
        except ImportError:  # older layout
            from torch.quantization import per_channel_dynamic_qconfig
        spec = {nn.Linear: per_channel_dynamic_qconfig}
    else:
        spec = {nn.Linear}
    qm = torch.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)
    n_dyn = sum(1 for m in qm.modules()
                if type(m).__name__ == "Linear" and ".quantized.dynamic" in type(m).__module__)
    n_lin = sum(1 for m in model.modules() if isinstance(m, nn.Linear))
    if n_dyn != n_lin:
        raise SystemExit(f"quantize_dynamic converted {n_dyn} of {n_lin} nn.Linear modules")
    return qm.eval(), n_dyn


def time_forward(fn, warmup, iters, seconds):
    for _ in range(warmup):
        fn()
    if iters is None:
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-6)
        iters = max(3, min(100000, int(round(seconds / one))))
    per = []
    t0 = time.perf_counter()
    for _ in range(iters):
        ts = time.perf_counter()
        fn()
        per.append(time.perf_counter() - ts)
    dt = time.perf_counter() - t0
    return iters, dt, torch_common.median(per)


def serve(args, models, V):
    """--serve: one request per stdin line, "<variant> <B>x<T> <iters>"; the answer is one JSON line
    {"ms": [per-forward ms, ...]} after one untimed forward. The inputs are those of the timed
    runs (same seed per shape). "ready" is printed first; EOF ends. This lets the caller alternate
    PyTorch and its own runs in short slices, so that both see the same machine."""
    import torch
    inputs = {}
    print(json.dumps({"ready": True, "variants": sorted(models)}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            parts = line.split()
            if not parts:
                continue
            try:
                v, shape, iters = parts[0], parts[1], int(parts[2])
                B, T = (int(x) for x in shape.lower().split("x"))
                m = models[v]
            except (ValueError, KeyError, IndexError):
                print(json.dumps({"error": f"bad request {line.strip()!r}"}), flush=True)
                continue
            if (B, T) not in inputs:
                g = torch.Generator().manual_seed(args.seed * 1000003 + B * 4099 + T)
                inputs[(B, T)] = (torch.randint(5, V, (B, T), generator=g), torch.zeros(B, T, dtype=torch.long))
            ids, type_ids = inputs[(B, T)]
            m(ids, type_ids)
            per = []
            for _ in range(iters):
                t0 = time.perf_counter()
                m(ids, type_ids)
                per.append(1000.0 * (time.perf_counter() - t0))
            print(json.dumps({"ms": per}), flush=True)


def run(args):
    import torch
    if args.intra_threads is not None:
        torch.set_num_threads(args.intra_threads)
    variants = variants_of(args)
    cfg, _ = read_config(args.model)
    task = args.task
    if task is None and cfg["tasks"]:
        task = cfg["tasks"][0]["name"]
    st = Safetensors(os.path.join(args.model, "model.safetensors"))
    model, spec, ignored = build_model(cfg, task, st, torch)
    del st
    if ignored:
        sys.stderr.write(f"torch_infer: ignoring head tensors {ignored}\n")
    models = {"fp32": model}
    qengine, supported, n_quant = None, list(torch.backends.quantized.supported_engines), 0
    if args.quantized:
        qengine, supported = pick_qengine(torch, args.qengine)
        models["int8"], n_quant = quantize(model, torch, args.qconfig)

    V = cfg["vocabSize"]
    if V <= 5:
        raise SystemExit(f"vocabSize {V}: no ids in [5, vocab)")
    if args.serve:
        serve(args, {v: models[v] for v in variants}, V)
        return None
    res_shapes = {}
    with torch.inference_mode():
        for (B, T) in args.shape_list:
            g = torch.Generator().manual_seed(args.seed * 1000003 + B * 4099 + T)
            ids = torch.randint(5, V, (B, T), generator=g)
            type_ids = torch.zeros(B, T, dtype=torch.long)
            r = {}
            for v in variants:
                m = models[v]
                iters, dt, med = time_forward(lambda: m(ids, type_ids), args.warmup, args.iters, args.seconds)
                r[f"{v}_tokens_per_s"] = B * T * iters / dt
                r[f"{v}_ms"] = 1000.0 * dt / iters
                r[f"{v}_ms_median"] = 1000.0 * med
                r[f"{v}_iters"] = iters
            res_shapes[f"{B}x{T}"] = r

        parity = None
        if args.parity_ids:
            with open(args.parity_ids) as f:
                ids = torch.tensor(json.load(f)["ids"], dtype=torch.long)
            if ids.dim() != 2 or ids.numel() == 0:
                raise SystemExit(f"{args.parity_ids}: ids must be a non-empty B x T list of lists")
            if int(ids.min()) < 0 or int(ids.max()) >= V:
                raise SystemExit(f"{args.parity_ids}: ids outside [0, {V})")
            type_ids = torch.zeros_like(ids)
            out = {"task": task, "shape": list(ids.shape)}
            lf = models["fp32"](ids, type_ids)
            out["fp32"] = lf.tolist()
            out["logits_shape"] = list(lf.shape)
            parity = {"file": args.parity_out, "fp32_finite": bool(torch.isfinite(lf).all())}
            if args.quantized:
                li = models["int8"](ids, type_ids)
                out["int8"] = li.tolist()
                parity["int8_finite"] = bool(torch.isfinite(li).all())
                parity["int8_max_abs_diff"] = float((li - lf).abs().max())
                parity["fp32_max_abs"] = float(lf.abs().max())
            with open(args.parity_out, "w") as f:
                json.dump(out, f)

    intra, blas = torch.get_num_threads(), blas_threads_effective()
    setting = {"intra": intra, "blas": blas}
    result = {
        "torch": torch.__version__, "model": args.model, "task": task,
        "task_type": spec.get("type") if spec else None, "pooling": (spec.get("pooling") or "cls") if spec else None,
        "shapes": res_shapes, "variants": variants,
        "threads": {**{v: dict(setting) for v in variants}, "picked": False},
        "intra_threads": intra, "blas_threads": blas,
        "quantized_engine": qengine, "supported_engines": supported,
        "qconfig": args.qconfig if args.quantized else None, "quantized_linears": n_quant,
        "params": sum(p.numel() for p in model.parameters()),
        "config": {k: cfg[k] for k in ENCODER_DEFAULTS}, "switch": cfg["switch"],
        "ignored_tensors": ignored, "warmup": args.warmup, "iters": args.iters,
        "seconds_target": None if args.iters is not None else args.seconds, "seed": args.seed,
    }
    if parity is not None:
        result["parity"] = parity
    print(json.dumps(result), flush=True)
    return result


# ----------------------------------------------------------------------------- --pick-threads

def pick_threads(args):
    """Short trials of each (intra, blas), the fastest per variant, then the full measurement of
    each variant at its setting (subprocesses, as torch_common.pick_threads), merged."""
    script = os.path.abspath(__file__)
    variants = variants_of(args)
    no_pick = {"--pick-threads"}
    base = torch_common.strip_flags(
        sys.argv[1:], {"--intra-threads", "--blas-threads", "--iters", "--steps", "--warmup", "--parity-ids",
                       "--parity-out", "--variants"}, no_pick)
    trials = []
    for intra, blas in PICK_COMBOS:
        cmd = [sys.executable, script] + base + [
            "--intra-threads", str(intra), "--blas-threads", str(blas),
            "--iters", str(args.pick_steps), "--warmup", str(args.pick_warmup)]
        r = torch_common._run_json(cmd, dict(os.environ, OPENBLAS_NUM_THREADS=str(blas)),
                                   f"trial intra={intra} blas={blas}")
        t = {"intra_threads": intra, "blas_threads": blas}
        for v in variants:
            meds = [r["shapes"][s][f"{v}_ms_median"] for s in r["shapes"]]
            t[f"{v}_ms_median"] = {s: r["shapes"][s][f"{v}_ms_median"] for s in r["shapes"]}
            t[f"{v}_score"] = math.exp(sum(math.log(m) for m in meds) / len(meds))  # geometric mean, ms
        trials.append(t)
        print(f"trial intra={intra} blas={blas}: " + ", ".join(
            f"{v} " + " ".join(f"{s} {ms:.2f} ms" for s, ms in t[f"{v}_ms_median"].items()) for v in variants),
            flush=True)
    best = {v: min(trials, key=lambda t: t[f"{v}_score"]) for v in variants}
    for v in variants:
        print(f"fastest {v}: intra={best[v]['intra_threads']} blas={best[v]['blas_threads']}", flush=True)
    # one final run per distinct setting; the parity batch goes to the run that has int8 (it
    # builds both models) or else the fp32 run
    groups = {}
    for v in variants:
        groups.setdefault((best[v]["intra_threads"], best[v]["blas_threads"]), []).append(v)
    keep = torch_common.strip_flags(sys.argv[1:], {"--intra-threads", "--blas-threads", "--parity-ids",
                                                    "--parity-out", "--variants"}, no_pick)
    parity_group = next((k for k, vs in groups.items() if "int8" in vs), next(iter(groups)))
    merged = None
    for (intra, blas), vs in groups.items():
        cmd = [sys.executable, script] + keep + ["--intra-threads", str(intra), "--blas-threads", str(blas),
                                                  "--variants", ",".join(vs)]
        if args.parity_ids and (intra, blas) == parity_group:
            cmd += ["--parity-ids", args.parity_ids, "--parity-out", args.parity_out]
        r = torch_common._run_json(cmd, dict(os.environ, OPENBLAS_NUM_THREADS=str(blas)),
                                   f"final run intra={intra} blas={blas} ({','.join(vs)})")
        if merged is None:
            merged = r
        else:
            for s, fig in r["shapes"].items():
                merged["shapes"][s].update(fig)
            if "parity" in r:
                merged["parity"] = r["parity"]
    merged["variants"] = variants
    merged["threads"] = {v: {"intra": best[v]["intra_threads"], "blas": best[v]["blas_threads"]} for v in variants}
    merged["threads"]["picked"] = True
    merged["threads"]["trials"] = trials
    merged["intra_threads"] = best["fp32"]["intra_threads"] if "fp32" in best else best[variants[0]]["intra_threads"]
    merged["blas_threads"] = best["fp32"]["blas_threads"] if "fp32" in best else best[variants[0]]["blas_threads"]
    merged["picked"] = True
    merged["trials"] = trials
    # key order as documented: shapes in the order asked
    merged["shapes"] = {f"{b}x{t}": merged["shapes"][f"{b}x{t}"] for (b, t) in args.shape_list}
    print(json.dumps(merged), flush=True)
    return merged


def main():
    args = parse_args()
    if args.pick_threads:
        pick_threads(args)
        return
    torch_common.maybe_reexec_for_blas(args, __file__)
    run(args)


if __name__ == "__main__":
    main()
