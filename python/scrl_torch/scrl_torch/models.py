"""The networks of @scrl/trainer in PyTorch, with the same parameter names: torchvision's ResNet
(v1.5; optional small-input stem; any base width) and the BYOL projector/predictor MLPs
(``net.0`` Linear, ``net.1`` BatchNorm1d, ``net.2`` ReLU, ``net.3`` Linear without bias)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align

LAYERS = {18: ('basic', [2, 2, 2, 2]), 34: ('basic', [3, 4, 6, 3]), 50: ('bottleneck', [3, 4, 6, 3]), 101: ('bottleneck', [3, 4, 23, 3])}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    """A torchvision ResNet trunk returning C5 (no pooling, no fc); ``stride`` is C5's."""

    def __init__(self, depth, small_input=False, base_width=64):
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f'ResNet: depth must be one of {sorted(LAYERS)}, got {depth}')
        kind, counts = LAYERS[depth]
        block = BasicBlock if kind == 'basic' else Bottleneck
        w = base_width
        self.small_input = small_input
        if small_input:
            self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        cin = w
        for i, n in enumerate(counts):
            planes = w * 2**i
            blocks = []
            for b in range(n):
                blocks.append(block(cin, planes, 2 if (i > 0 and b == 0) else 1))
                cin = planes * block.expansion
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
        self.feature_dim = cin
        self.stride = 8 if small_input else 32

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if not self.small_input:
            x = F.max_pool2d(x, 3, 2, 1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class Mlp(nn.Module):
    """Linear(in, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, out, bias=False), as ``net.*``."""

    def __init__(self, cin, hidden, out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out, bias=False))

    def forward(self, x):
        return self.net(x)


class Online(nn.Module):
    """backbone -> (RoIAlign on C5 | global pool) -> projector -> predictor."""

    def __init__(self, backbone, projector, predictor, method):
        super().__init__()
        self.backbone, self.projector, self.predictor, self.method = backbone, projector, predictor, method

    def forward(self, x, rois):
        return self.predictor(self.projector(embed(self.backbone, x, rois, self.method)))


class Target(nn.Module):
    """backbone -> (RoIAlign on C5 | global pool) -> projector; updated by EMA only."""

    def __init__(self, backbone, projector, method):
        super().__init__()
        self.backbone, self.projector, self.method = backbone, projector, method
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x, rois):
        return self.projector(embed(self.backbone, x, rois, self.method))


def build_networks(config):
    """``(online, target)`` for a resolved @scrl/trainer config. Their weights are whatever a
    checkpoint loads: this trainer always continues a run exported by ``scrl export --format torch-run``."""
    m, method = config['model'], config['method']

    def backbone():
        return ResNet(m['depth'], m['smallInput'], m['baseWidth'])

    ob = backbone()
    dim, hidden, out = ob.feature_dim, m['projector']['hiddenDim'], m['projector']['outDim']
    online = Online(ob, Mlp(dim, hidden, out), Mlp(out, m['predictor']['hiddenDim'], out), method)
    target = Target(backbone(), Mlp(dim, hidden, out), method)
    return online, target


def embed(backbone, x, rois, method):
    """SCRL: RoIAlign of each box on C5 (1x1, scale 1/stride, sampling -1, aligned False); BYOL: global average pool."""
    c5 = backbone(x)
    if method == 'byol':
        return c5.mean(dim=(2, 3))
    return roi_align(c5, rois, output_size=1, spatial_scale=1.0 / backbone.stride, sampling_ratio=-1, aligned=False).flatten(1)


def regression_loss(q, z):
    """BYOL's ``2 - 2 cos(q, z)`` per row."""
    return 2 - 2 * (F.normalize(q, dim=-1) * F.normalize(z, dim=-1)).sum(dim=-1)


def excluded_from_adaptation(module_name, param_name, module):
    """LARS exclusion by role, as @scrl/models: only conv and linear weights are adapted and decayed;
    biases and BatchNorm affine parameters step by lr alone."""
    return not (isinstance(module, (nn.Conv2d, nn.Linear)) and param_name == 'weight')


def lars_parameters(online):
    """``[(name, parameter, excluded)]`` of the online network, names as in the checkpoint's
    ``optimizer.momentum.<name>`` (``backbone.conv1.weight``, ``projector.net.0.bias``, ...)."""
    out = []
    for mod_name, mod in online.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            out.append((f'{mod_name}.{pname}', p, excluded_from_adaptation(mod_name, pname, mod)))
    out.sort(key=lambda e: e[0])
    return out
