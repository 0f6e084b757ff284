#!/usr/bin/env python3
"""Checks exported ONNX graphs with the ONNX project's own checker (Debian's python3-onnx):
the model's structure, every node against its operator schema at the model's opset, and (full
check) shape inference over the whole graph, strict. Prints one JSON line: each file's verdict.

  /usr/bin/python3 tools/check_onnx.py OUT/sent/onnx/model.onnx [...]
Exit 0 when every file passes, 1 when one fails, 2 when the onnx module is missing.
"""
import json
import sys

try:
    import onnx
    from onnx import checker, shape_inference
except ImportError:
    print(json.dumps({"error": "python3-onnx is not installed (apt-get install python3-onnx)"}))
    sys.exit(2)

results = []
for path in sys.argv[1:]:
    try:
        model = onnx.load(path)
        checker.check_model(model, full_check=True)
        shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
        results.append({"file": path, "ok": True, "ir_version": model.ir_version, "opset": opset, "nodes": len(model.graph.node)})
    except Exception as e:  # the checker's own message names the node and the rule
        results.append({"file": path, "ok": False, "error": str(e).strip().splitlines()[0][:500]})
print(json.dumps({"onnx": onnx.__version__, "results": results}))
sys.exit(0 if all(r["ok"] for r in results) else 1)
