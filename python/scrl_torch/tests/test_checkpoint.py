"""Our checkpoint format read and written from Python."""
import os
import unittest

import torch

from common import FIXTURE, tempdir
from scrl_torch import checkpoint as ck
from scrl_torch.models import build_networks


class CheckpointTest(unittest.TestCase):
    def test_reads_a_typescript_checkpoint_into_the_networks_and_back_unchanged(self):
        c = ck.read_checkpoint(os.path.join(FIXTURE, 'ts-40', 'ckpt-00000040.json'))
        online, target = build_networks(c['state']['config'])
        ck.load_networks(online, target, c['tensors'], c['state']['batchNormCounters'])
        back = ck.network_tensors(online, target)
        nets = {k: v for k, v in c['tensors'].items() if not k.startswith('optimizer.')}
        self.assertEqual(sorted(back), sorted(nets))
        for k in nets:
            self.assertTrue(torch.equal(back[k], nets[k]), k)
        self.assertEqual(ck.bn_counters(online, target)['online.backbone'][0], 40)

    def test_writes_atomically_keeps_the_newest_and_skips_a_corrupt_one(self):
        d = tempdir(self)
        t = {'a.weight': torch.arange(6, dtype=torch.float32).reshape(2, 3)}
        for step in (1, 2, 3):
            ck.write_checkpoint(d, step, t, {'config': {}}, keep=2)
        self.assertEqual([s for s, _ in ck.list_checkpoints(d)], [3, 2])
        self.assertFalse(any(f.startswith('.') for f in os.listdir(d)))
        with open(os.path.join(d, 'ckpt-00000003.safetensors'), 'r+b') as f:
            f.truncate(40)
        warnings = []
        latest = ck.find_latest_checkpoint(d, warn=warnings.append)
        self.assertEqual(latest['step'], 2)
        self.assertTrue(torch.equal(latest['tensors']['a.weight'], t['a.weight']))
        self.assertIn('truncated', warnings[0])

    def test_names_what_is_missing(self):
        c = ck.read_checkpoint(os.path.join(FIXTURE, 'ts-40', 'ckpt-00000040.json'))
        online, target = build_networks(c['state']['config'])
        tensors = dict(c['tensors'])
        del tensors['target.projector.net.3.weight']
        with self.assertRaisesRegex(ck.CheckpointError, 'target.projector.net.3.weight'):
            ck.load_networks(online, target, tensors)


if __name__ == '__main__':
    unittest.main()
