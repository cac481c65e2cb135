"""LARS around SGD with momentum, as @scrl/trainer's ``Lars``::

    adapted (conv/linear weights):  g' = g + wd * w
                                    trust = eta * ||w|| / ||g'||  if ||w|| > 0 and ||g'|| > 0, else 1
    excluded (biases, BatchNorm):   g' = g, trust = 1
    both:                           v = m * v + lr * trust * g';  w = w - v

``v`` starts at zero. Momentum buffers are keyed by parameter name (``backbone.conv1.weight``),
the names of the checkpoint's ``optimizer.momentum.*`` tensors.
"""
import torch


class Lars:
    def __init__(self, named_params, momentum=0.9, weight_decay=0.0, eta=1e-3):
        self.params = list(named_params)
        self.config = {'momentum': momentum, 'weightDecay': weight_decay, 'eta': eta}
        self.steps = 0
        self.buffers = {name: torch.zeros_like(p) for name, p, _ in self.params}

    @torch.no_grad()
    def step(self, lr):
        m, wd, eta = self.config['momentum'], self.config['weightDecay'], self.config['eta']
        for name, p, excluded in self.params:
            if p.grad is None:
                continue
            g = p.grad
            if excluded:
                update = g * lr
            else:
                if wd != 0:
                    g = g + wd * p
                wn, gn = torch.norm(p), torch.norm(g)
                trust = torch.where((wn > 0) & (gn > 0), eta * wn / torch.where(gn > 0, gn, torch.ones_like(gn)), torch.ones_like(gn))
                update = g * (trust * lr)
            v = self.buffers[name]
            v.mul_(m).add_(update)
            p.sub_(v)
        self.steps += 1

    def load_state(self, config, steps, buffers):
        """Restores settings' check, step count and buffers (``{name: tensor}`` in PyTorch layout)."""
        for k in ('momentum', 'weightDecay', 'eta'):
            if config.get(k) != self.config[k]:
                raise ValueError(f'Lars: saved {k} is {config.get(k)} but this optimiser has {self.config[k]}; use the saved settings')
        for name, p, _ in self.params:
            if name not in buffers:
                raise ValueError(f"Lars: no momentum buffer for parameter '{name}' in the saved state")
            b = buffers[name]
            if tuple(b.shape) != tuple(p.shape):
                raise ValueError(f"Lars: buffer of '{name}' has shape {list(b.shape)} but the parameter has {list(p.shape)}")
            self.buffers[name] = b.to(p.device, p.dtype).clone()
        self.steps = steps
