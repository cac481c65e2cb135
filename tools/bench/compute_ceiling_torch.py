"""PyTorch side of tools/bench/compute-ceiling.js: matrix products and convolutions.

    python3 tools/bench/compute_ceiling_torch.py SPEC.json   # SPEC written by compute-ceiling.js

Prints JSON: median ms of `reps` calls after two warm-up calls, and GFLOP/s (2 flops per
multiply-add), for the same shapes as the JavaScript side.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def time_ms(fn, reps):
    for _ in range(2):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    spec = json.load(open(sys.argv[1]))
    reps = spec["reps"]
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    out = {"version": torch.__version__}
    with torch.no_grad():
        out["matmul"] = []
        for _name, m, k, n in spec["matmuls"]:
            a = torch.randn(m, k)
            b = torch.randn(k, n)
            ms = time_ms(lambda: torch.matmul(a, b), reps)
            out["matmul"].append({"ms": ms, "gflops": 2 * m * k * n / ms / 1e6})
        out["conv"] = []
        batch = spec["batch"]
        for _name, h, k, s, cin, cout in spec["convs"]:
            x = torch.randn(batch, cin, h, h)
            w = torch.randn(cout, cin, k, k)
            ms = time_ms(lambda: F.conv2d(x, w, stride=s, padding=k // 2), reps)
            ho = math.ceil(h / s)
            out["conv"].append({"ms": ms, "gflops": 2 * batch * ho * ho * k * k * cin * cout / ms / 1e6})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
