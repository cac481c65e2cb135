#!/usr/bin/env python3
"""torchvision.ops.roi_align timings for tools/bench/roi-align.js (same shapes and boxes).

Usage: /usr/bin/python3 tools/bench/roi_align_torch.py SPEC.json
SPEC: {"cases": [{"name", "inputShape": [N, H, W, C], "boxes": [[x1, y1, x2, y2], ...],
"boxIndices": [...], "outputSize": [h, w], "spatialScale", "samplingRatio", "aligned",
"repeats"}], "threads": N (optional)}. Prints JSON: torch version, thread count, and per case the median ms of a
forward pass and of a forward + backward pass (input gradient for a fixed upstream gradient) and of the user's path
(`roi_align(x, ...).sum().backward()`).
"""
import json
import platform
import resource
import statistics
import sys
import time

import torch
import torchvision
from torchvision.ops import roi_align


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(case):
    n, h, w, c = case['inputShape']
    ph, pw = case['outputSize']
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g)
    k = len(case['boxIndices'])
    rois = torch.cat([torch.tensor(case['boxIndices'], dtype=torch.float32).reshape(k, 1),
                      torch.tensor(case['boxes'], dtype=torch.float32).reshape(k, 4)], dim=1)
    dy = torch.randn(k, c, ph, pw, generator=g)
    kw = dict(spatial_scale=case['spatialScale'], sampling_ratio=case['samplingRatio'], aligned=case['aligned'])

    def forward():
        with torch.no_grad():
            roi_align(x, rois, (ph, pw), **kw)

    xg = x.clone().requires_grad_(True)

    def forward_backward():
        xg.grad = None
        out = roi_align(xg, rois, (ph, pw), **kw)
        out.backward(dy)

    def user_path():
        # What a user writes: a scalar loss of the pooled features, then backward().
        xg.grad = None
        roi_align(xg, rois, (ph, pw), **kw).sum().backward()

    return dict(name=case['name'], forwardMs=median_ms(forward, case['repeats']),
                forwardBackwardMs=median_ms(forward_backward, case['repeats']),
                userPathMs=median_ms(user_path, case['repeats']))


def main():
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    if spec.get('threads'):
        torch.set_num_threads(int(spec['threads']))
    result = dict(torch=torch.__version__, torchvision=torchvision.__version__,
                  threads=torch.get_num_threads(), cases=[run(c) for c in spec['cases']])
    result.update(python=platform.python_version(), maxRssKb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
