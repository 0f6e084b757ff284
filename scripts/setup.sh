#!/usr/bin/env bash
# Installs everything Pathwise needs on Debian, then the npm packages (which build the native
# addon offline against the local Node headers). Safe to re-run: it installs only what is missing.
#   PATHWISE_BENCH=1  also installs the PyTorch reference used by the benchmarks (python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The ONNX checker for exported graphs (tools/check_onnx.py, run by the export tests).
/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || need+=(python3-onnx)
# The browser the browser demo's test drives headless (test/integration/browser_demo.test.ts).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${PATHWISE_BENCH:-0}" = 1 ]; then
  dpkg -s python3-torch >/dev/null 2>&1 || need+=(python3-torch)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} with apt-get"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# onnxruntime-node (under @huggingface/transformers, a dev dependency of the export tests) would
# fetch CUDA binaries from a host outside npm in its install script; its CPU build ships in the
# package, so its install step is skipped.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
