"""Thread handling shared by the PyTorch benchmark scripts (torch_engine.py, torch_pretrain.py).

Nothing here imports torch: OPENBLAS_NUM_THREADS has to be in the environment before torch
(and with it OpenBLAS) loads, so the scripts call `maybe_reexec_for_blas` first.

Two thread pools, which do not know about each other:
  * intra-op (OpenMP) threads: --intra-threads k -> torch.set_num_threads(k) (elementwise ops,
    reductions, softmax, LayerNorm, ...);
  * BLAS threads: PyTorch here calls OpenBLAS (pthreads build) for GEMMs, which reads
    OPENBLAS_NUM_THREADS when the library loads. --blas-threads k re-executes the script with
    OPENBLAS_NUM_THREADS=k (a caller may equally set the variable itself).
`pick_threads` runs short trials of each (intra, blas) combination in subprocesses and then the
full measurement with the fastest (see torch_engine.py's docstring for the measurements that
motivated this).
"""

import json
import os
import subprocess
import sys
import time

PICK_COMBOS = [(1, 2), (2, 1), (2, 2), (1, 1)]
REEXEC_ENV = "_TORCH_BENCH_REEXEC"


def add_thread_args(p, pick_steps=10, pick_warmup=2):
    """The thread options every benchmark script shares."""
    p.add_argument("--intra-threads", type=int, default=None)
    p.add_argument("--blas-threads", type=int, default=None)
    p.add_argument("--pick-threads", action="store_true")
    p.add_argument("--pick-steps", type=int, default=pick_steps, help="timed steps per --pick-threads trial")
    p.add_argument("--pick-warmup", type=int, default=pick_warmup, help="warmup steps per --pick-threads trial")
    p.add_argument("--warmup-s", type=float, default=0.0,
                   help="warm up for at least this many seconds too (bench/common.ts warmFor: this VM runs a process slowly for a while after it starts or waits)")


def warm(fns, steps, seconds):
    """Runs each of fns in turn at least `steps` times and until `seconds` have passed."""
    t0 = time.perf_counter()
    i = 0
    while i < steps or time.perf_counter() - t0 < seconds:
        for f in fns:
            f()
        i += 1


def strip_flags(argv, flags_with_value, flags_bare):
    out = []
    i = 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if name in flags_with_value:
            i += 1 if "=" in a else 2
            continue
        if name in flags_bare:
            i += 1
            continue
        out.append(a)
        i += 1
    return out


def maybe_reexec_for_blas(args, script):
    """OPENBLAS_NUM_THREADS must be in the environment before torch (OpenBLAS) loads: if
    --blas-threads asks for another value, re-execute `script` (with the same arguments) with it."""
    if args.blas_threads is None:
        return
    want = str(args.blas_threads)
    if os.environ.get("OPENBLAS_NUM_THREADS") == want:
        return
    if os.environ.get(REEXEC_ENV) == "1":
        raise SystemExit("re-exec did not set OPENBLAS_NUM_THREADS")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=want)
    env[REEXEC_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(script)] + sys.argv[1:], env)


def blas_threads_effective():
    v = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if v:
        return int(v)
    return os.cpu_count()  # OpenBLAS default: all cores


def _run_json(cmd, env, what):
    env = dict(env)
    env.pop(REEXEC_ENV, None)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(f"{what} failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _default_trial_line(r):
    return f"{r['steps_per_s']:.3f} steps/s (median step {r['ms_per_step_median']:.1f} ms)"


def pick_threads(args, script, combos=PICK_COMBOS, trial_line=_default_trial_line,
                 trial_keys=("steps_per_s", "ms_per_step_median")):
    """Short trials of each (intra, blas) in `combos` (subprocesses running `script` with the
    caller's other arguments, --pick-steps/--pick-warmup steps), printed as they finish; then the
    full --steps/--warmup run with the fastest by median step time, whose JSON is printed last
    with "picked": true and "trials": [{intra_threads, blas_threads, <trial_keys>}]. The trial
    JSON must carry intra_threads, blas_threads, steps_per_s and ms_per_step_median."""
    script = os.path.abspath(script)
    base = strip_flags(sys.argv[1:], {"--intra-threads", "--blas-threads", "--steps", "--warmup"},
                       {"--pick-threads"})
    trials = []
    for intra, blas in combos:
        cmd = [sys.executable, script] + base + [
            "--intra-threads", str(intra), "--blas-threads", str(blas),
            "--steps", str(args.pick_steps), "--warmup", str(args.pick_warmup)]
        r = _run_json(cmd, dict(os.environ, OPENBLAS_NUM_THREADS=str(blas)),
                      f"trial intra={intra} blas={blas}")
        trials.append(r)
        print(f"trial intra={intra} blas={blas}: {trial_line(r)}", flush=True)
    # pick on the median step time: the short trials are noisy on a shared VM
    best = min(trials, key=lambda r: r["ms_per_step_median"])
    print(f"fastest: intra={best['intra_threads']} blas={best['blas_threads']} "
          f"({best['steps_per_s']:.3f} steps/s in the short trial)", flush=True)
    cmd = [sys.executable, script] + strip_flags(
        sys.argv[1:], {"--intra-threads", "--blas-threads"}, {"--pick-threads"}) + [
        "--intra-threads", str(best["intra_threads"]), "--blas-threads", str(best["blas_threads"])]
    final = _run_json(cmd, dict(os.environ, OPENBLAS_NUM_THREADS=str(best["blas_threads"])), "final run")
    final["picked"] = True
    final["trials"] = [dict([("intra_threads", t["intra_threads"]), ("blas_threads", t["blas_threads"])]
                            + [(k, t[k]) for k in trial_keys]) for t in trials]
    print(json.dumps(final), flush=True)
    return final


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
