"""PyTorch reference for tools/bench/train-step.js: one ResNet-18 SGD training step.

Prints one JSON line: {"imagesPerSecond", "secondsPerStep", "threads", "torch", ...}.
Run: /usr/bin/python3 tools/bench/train_step_torch.py --batch 32 --size 64 --steps 5
"""
import argparse
import json
import platform
import resource
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--classes", type=int, default=10)
    a = p.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=a.classes)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "imagesPerSecond": a.batch / median,
        "secondsPerStep": median,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "batch": a.batch,
        "size": a.size,
        "steps": a.steps,
        "python": platform.python_version(),
        "maxRssKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
