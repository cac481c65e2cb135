"""Batch normalisation over the global batch of all processes (SyncBatchNorm).

PyTorch 1.13's ``nn.SyncBatchNorm`` accepts CUDA tensors only, so on CPU (gloo) this module
does the same with differentiable all-reduces (``torch.distributed.nn.functional.all_reduce``):
the mean and the biased variance of every channel over all processes' rows, running statistics
updated with the unbiased variance and momentum 0.1, as ``nn.BatchNorm*`` does on one process.
On CUDA, ``convert`` uses ``nn.SyncBatchNorm``.
"""
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.nn.functional import all_reduce


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f'CpuSyncBatchNorm: expected at least 2-D input, got {x.dim()}-D')

    def forward(self, x):
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if not self.training or world == 1:
            if self.training:
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                self._momentum(), self.eps)
        C = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, C] + [1] * (x.dim() - 2)
        n_local = x.numel() // C if C else 0
        stats = torch.cat([x.sum(dims), x.new_tensor([float(n_local)])])
        stats = all_reduce(stats)
        n = stats[C]
        mean = stats[:C] / n
        xc = x - mean.reshape(shape)
        var = all_reduce((xc * xc).sum(dims)) / n
        y = xc * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            mom = self._momentum()
            count = float(n)
            self.running_mean.mul_(1 - mom).add_(mean.detach(), alpha=mom)
            self.running_var.mul_(1 - mom).add_(var.detach() * (count / max(count - 1, 1.0)), alpha=mom)
        return y

    def _momentum(self):
        return 0.1 if self.momentum is None else self.momentum


def convert(module, cuda):
    """Replaces every BatchNorm of ``module`` by a synchronised one, keeping names and state."""
    if cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        out = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        with torch.no_grad():
            if module.affine:
                out.weight.copy_(module.weight)
                out.bias.copy_(module.bias)
                out.weight.requires_grad_(module.weight.requires_grad)
                out.bias.requires_grad_(module.bias.requires_grad)
            out.running_mean.copy_(module.running_mean)
            out.running_var.copy_(module.running_var)
            out.num_batches_tracked.copy_(module.num_batches_tracked)
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert(child, cuda))
    return out
