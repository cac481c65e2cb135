"""SCRL's two views with their geometry and the matched box pairs (docs/scrl-reference.md
sections 1-2), drawing from the same random streams in the same order as @scrl/augment, so the
crop, flip, colour decisions and box pairs of an image are the ones ``scrl pretrain`` draws.

Pixels come from torchvision's tensor ops (bicubic with antialias, ColorJitter's functional
forms, Gaussian blur); they follow the same definitions as the TypeScript pipeline (which
reproduces PIL's bicubic filter) but are not bit-identical to it.
"""
import math
import struct

import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

DEFAULTS = {
    'ratio': (3 / 4, 4 / 3),
    'brightness': 0.4,
    'contrast': 0.4,
    'saturation': 0.2,
    'hue': 0.1,
    'resize_blur_factors': (1.1, 1.2, 1.5),
    'gaussian_sigma': (0.1, 2.0),
    'gaussian_kernel_fraction': 0.1,
    'solarize_threshold': 128 / 255,
    'mean': (0.485, 0.456, 0.406),
    'std': (0.229, 0.224, 0.225),
    # per view: flip, colour jitter, grayscale, blur, solarize
    'view1': (0.5, 0.8, 0.2, 1.0, 0.0),
    'view2': (0.5, 0.8, 0.2, 0.1, 0.2),
}


def _f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def round_half_even(x):
    f = math.floor(x)
    d = x - f
    if d > 0.5:
        return f + 1
    if d < 0.5:
        return f
    return f if f % 2 == 0 else f + 1


def random_resized_crop(height, width, rng, scale, ratio=DEFAULTS['ratio']):
    """torchvision 0.14's RandomResizedCrop.get_params with our stream: (top, left, h, w)."""
    area = height * width
    log_lo = _f32(math.log(_f32(ratio[0])))
    log_hi = _f32(math.log(_f32(ratio[1])))
    for _ in range(10):
        target = area * _f32(rng.uniform(scale[0], scale[1]))
        aspect = _f32(math.exp(_f32(rng.uniform(log_lo, log_hi))))
        w = round_half_even(math.sqrt(target * aspect))
        h = round_half_even(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = rng.int(0, height - h)
            left = rng.int(0, width - w)
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = round_half_even(w / min(ratio))
    elif in_ratio > max(ratio):
        h = height
        w = round_half_even(h * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def decide(height, width, rng, which, scale, blur_kind):
    """One view's random decisions, in @scrl/augment's draw order."""
    flip_p, jitter_p, gray_p, blur_p, solar_p = DEFAULTS['view1' if which == 1 else 'view2']
    top, left, h, w = random_resized_crop(height, width, rng, scale)
    d = {'geometry': {'top': top, 'left': left, 'height': h, 'width': w, 'flipped': rng.bool(flip_p)}}
    jitter = None
    if rng.bool(jitter_p):
        order = [0, 1, 2, 3]
        for i in range(3, 0, -1):
            j = rng.int(0, i)
            order[i], order[j] = order[j], order[i]
        b, c, s, hu = DEFAULTS['brightness'], DEFAULTS['contrast'], DEFAULTS['saturation'], DEFAULTS['hue']
        jitter = {
            'order': order,
            'brightness': rng.uniform(max(0, 1 - b), 1 + b),
            'contrast': rng.uniform(max(0, 1 - c), 1 + c),
            'saturation': rng.uniform(max(0, 1 - s), 1 + s),
            'hue': rng.uniform(-hu, hu),
        }
    d['jitter'] = jitter
    d['grayscale'] = rng.bool(gray_p)
    blur = None
    if rng.bool(blur_p):
        if blur_kind == 'resize':
            f = DEFAULTS['resize_blur_factors']
            blur = ('resize', f[rng.int(0, len(f) - 1)])
        else:
            lo, hi = DEFAULTS['gaussian_sigma']
            blur = ('gaussian', rng.uniform(lo, hi))
    d['blur'] = blur
    d['solarize'] = rng.bool(solar_p)
    return d


def _resize(img, size):
    return torch.nn.functional.interpolate(img[None], size=(size, size), mode='bicubic', align_corners=False, antialias=True)[0]


def render(image, d, size):
    """Applies decisions to a uint8 CHW image: a normalised float32 CHW view of side ``size``."""
    g = d['geometry']
    crop = image[:, g['top']:g['top'] + g['height'], g['left']:g['left'] + g['width']].float() / 255
    x = _resize(crop, size).clamp_(0, 1)
    if g['flipped']:
        x = x.flip(-1)
    j = d['jitter']
    if j is not None:
        for step in j['order']:
            if step == 0:
                x = TF.adjust_brightness(x, j['brightness'])
            elif step == 1:
                x = TF.adjust_contrast(x, j['contrast'])
            elif step == 2:
                x = TF.adjust_saturation(x, j['saturation'])
            else:
                x = TF.adjust_hue(x, j['hue'])
    if d['grayscale']:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if d['blur'] is not None:
        kind, v = d['blur']
        if kind == 'resize':
            small = int(size // v)
            x = _resize(_resize(x, small), size).clamp_(0, 1)
        else:
            r = int(int(DEFAULTS['gaussian_kernel_fraction'] * size) // 2)
            if r > 0:
                x = TF.gaussian_blur(x, [2 * r + 1, 2 * r + 1], [v, v])
    if d['solarize']:
        t = DEFAULTS['solarize_threshold']
        x = torch.where(x >= t, 1 - x, x)
    return TF.normalize(x, DEFAULTS['mean'], DEFAULTS['std'])


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def sample_box_pairs(g1, g2, size, rng, min_size, per_image=10, iou_threshold=0.5, max_tries=50, jitter=0.0):
    """SCRL's matched box pairs of one image, as @scrl/augment's ``sampleBoxPairs``: a list of
    ``((x1, y1, x2, y2) in view 1, (x1, y1, x2, y2) in view 2)`` in view pixels; [] without overlap."""
    left = max(g1['left'], g2['left'])
    right = min(g1['left'] + g1['width'], g2['left'] + g2['width'])
    top = max(g1['top'], g2['top'])
    bottom = min(g1['top'] + g1['height'], g2['top'] + g2['height'])
    if left >= right or top >= bottom:
        return []
    sx1, sy1 = size / g1['width'], size / g1['height']
    sx2, sy2 = size / g2['width'], size / g2['height']
    sx, sy = min(sx1, sx2), min(sy1, sy2)
    W = round_half_even((right - left) * sx)
    H = round_half_even((bottom - top) * sy)
    if W <= min_size or H <= min_size:
        return []
    nW, nH = W // min_size, H // min_size

    def to_view(bx, by, bw, bh, g, sxk, syk):
        x1 = (bx / sx) * sxk + (left - g['left']) * sxk
        x2 = x1 + (bw / sx) * sxk
        y1 = (by / sy) * syk + (top - g['top']) * syk
        y2 = y1 + (bh / sy) * syk
        if g['flipped']:
            x1, x2 = size - x2, size - x1
        return [x1, y1, x2, y2]

    def clip(b):
        return (max(0, b[0]), max(0, b[1]), min(size, b[2]), min(size, b[3]))

    accepted, pairs = [], []
    for _ in range(per_image):
        b1 = b2 = None
        for _attempt in range(max_tries):
            dw = rng.int(1, nW)
            dh = rng.int(1, nH)
            gw, gh = W / dw, H / dh
            gx = rng.int(0, dw - 1)
            gy = rng.int(0, dh - 1)
            bw = rng.int(min_size, math.floor(gw))
            bh = rng.int(min_size, math.floor(gh))
            bx = rng.int(0, math.floor(gw - bw)) + math.floor(gx * gw)
            by = rng.int(0, math.floor(gh - bh)) + math.floor(gy * gh)
            b1 = to_view(bx, by, bw, bh, g1, sx1, sy1)
            b2 = to_view(bx, by, bw, bh, g2, sx2, sy2)
            if jitter > 0:
                w, h = b2[2] - b2[0], b2[3] - b2[1]
                x1 = b2[0] + w * (rng.uniform(1 - jitter, 1 + jitter) - 1)
                y1 = b2[1] + h * (rng.uniform(1 - jitter, 1 + jitter) - 1)
                b2 = [x1, y1, x1 + w * rng.uniform(1 - jitter, 1 + jitter), y1 + h * rng.uniform(1 - jitter, 1 + jitter)]
            if not accepted or all(_iou(b1, a) < iou_threshold for a in accepted):
                break
        accepted.append(b1)
        pairs.append((clip(b1), clip(b2)))
    return pairs


def view_pair(image, rng, size, scale, blur_kind, box_options=None):
    """Both views of a uint8 CHW image from its item stream, and (with ``box_options``) its box
    pairs from ``rng.fork('boxes')``: ``(view1, view2, pairs, (geometry1, geometry2))``."""
    h, w = int(image.shape[1]), int(image.shape[2])
    d1 = decide(h, w, rng, 1, scale, blur_kind)
    d2 = decide(h, w, rng, 2, scale, blur_kind)
    pairs = []
    if box_options is not None:
        pairs = sample_box_pairs(d1['geometry'], d2['geometry'], size, rng.fork('boxes'), **box_options)
    return render(image, d1, size), render(image, d2, size), pairs, (d1['geometry'], d2['geometry'])
