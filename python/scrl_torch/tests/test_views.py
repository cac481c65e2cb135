"""(d) The torch trainer's own views and box pairs against @scrl/augment's."""
import json
import os
import unittest

import torch
from torchvision.io import ImageReadMode, read_image

from common import BATCHES, FIXTURE
from scrl_torch.rng import create_rng, epoch_order, item_rng
from scrl_torch.train import DumpedSource
from scrl_torch.views import decide, sample_box_pairs, view_pair


def samples(seed, n, width, height, size, min_size):
    out = []
    for k in range(n):
        r = item_rng(seed, k // 100, k % 100)
        d1 = decide(height, width, r, 1, (0.2, 1), 'resize')
        d2 = decide(height, width, r, 2, (0.2, 1), 'resize')
        out.append(((d1['geometry'], d2['geometry']), sample_box_pairs(d1['geometry'], d2['geometry'], size, r.fork('boxes'), min_size)))
    return out


class ViewsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURE, 'views.json'), encoding='utf8') as f:
            cls.ts = json.load(f)

    def test_rng_streams_equal_augment(self):
        # createRng(0).fork('item').fork(3).fork(7), first draws, from @scrl/augment
        r = create_rng(0).fork('item').fork(3).fork(7)
        self.assertEqual([r.next(), r.int(0, 9), r.int(5, 1000000)], [0.671896614599973, 5, 766159])
        self.assertEqual(sorted(epoch_order(16, 0, 2)), list(range(16)))

    def test_geometry_and_box_pairs_equal_typescript(self):
        t = self.ts
        ours = samples(t['seed'], len(t['exact']), t['width'], t['height'], t['viewSize'], t['minSize'])
        for k, (expect, (geometry, pairs)) in enumerate(zip(t['exact'], ours)):
            self.assertEqual(list(geometry), expect['geometry'], f'sample {k}')
            self.assertEqual(len(pairs), len(expect['pairs']), f'sample {k}')
            for (a1, a2), (b1, b2) in zip(pairs, expect['pairs']):
                for x, y in zip(list(a1) + list(a2), b1 + b2):
                    self.assertAlmostEqual(x, y, places=9, msg=f'sample {k}')

    def test_distribution_matches_over_10000_samples(self):
        """Another seed than the TypeScript side's, so this compares distributions, not draws."""
        t = self.ts
        s = samples(1, 10000, t['width'], t['height'], t['viewSize'], t['minSize'])
        boxes = sum(len(p) for _, p in s)
        stats = {
            'boxesPerImage': boxes / len(s),
            'shareWithoutPairs': sum(1 for _, p in s if not p) / len(s),
            'meanBoxSide': sum(((b[2] - b[0]) * (b[3] - b[1])) ** 0.5 for _, p in s for b, _ in p) / boxes,
            'meanCropScale': sum(g['width'] * g['height'] / (t['width'] * t['height']) for gs, _ in s for g in gs) / (2 * len(s)),
        }
        for key, value in stats.items():
            ref = t['stats'][key]
            self.assertLess(abs(value - ref), 0.03 * ref + 0.005, f'{key}: ours {value:.4f}, @scrl/augment {ref:.4f}')

    def test_pixels_equal_the_typescript_views(self):
        with open(os.path.join(BATCHES, 'meta.json'), encoding='utf8') as f:
            meta = json.load(f)
        source = DumpedSource(BATCHES, 0, 1)
        worst = 0.0
        for b in meta['batches'][:4]:
            mb = source.micro_batch(b['batch'])
            n = len(b['indices'])
            for i, index in enumerate(b['indices']):
                image = read_image(os.path.join(FIXTURE, meta['files'][index]), ImageReadMode.RGB)
                v1, v2, _, _ = view_pair(image, item_rng(0, b['epoch'], index), 16, (0.2, 1), 'resize')
                worst = max(worst, float((v1 - mb.x[i]).abs().max()), float((v2 - mb.x[n + i]).abs().max()))
        self.assertLess(worst, 1e-4)
        self.assertTrue(torch.isfinite(mb.x).all())


if __name__ == '__main__':
    unittest.main()
