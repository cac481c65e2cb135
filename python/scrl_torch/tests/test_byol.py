"""BYOL by one setting: the fixture's step-20 state with config.method = byol, 10 steps on the
dumped micro-batches (global pooling; the box pairs are ignored), on 1 and 2 processes, against
the TypeScript trainer's BYOL steps 21..30 (byol-ts-metrics.jsonl)."""
import json
import os
import subprocess
import sys
import unittest

from common import BATCHES, FIXTURE, PACKAGE, fresh_export, metrics, tempdir, torchrun
from test_parity import tensors_at, worst


def byol_export(test):
    run = fresh_export(tempdir(test))
    for name in ('checkpoints/ckpt-00000020.json', 'pretrain-config.json'):
        path = os.path.join(run, name)
        with open(path, encoding='utf8') as f:
            doc = json.load(f)
        (doc['state']['config'] if 'state' in doc else doc)['method'] = 'byol'
        with open(path, 'w', encoding='utf8') as f:
            json.dump(doc, f, indent=1)
    return run


class ByolTest(unittest.TestCase):
    def test_byol_steps_equal_typescript_on_1_and_2_processes(self):
        one, two = byol_export(self), byol_export(self)
        env = {**os.environ, 'PYTHONPATH': PACKAGE, 'OMP_NUM_THREADS': '1'}
        r = subprocess.run([sys.executable, '-m', 'scrl_torch.train', '--resume', one, '--batches', BATCHES, '--max-steps', '30'],
                           env=env, capture_output=True, text=True, cwd=PACKAGE)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn('byol', r.stderr)
        torchrun(['--resume', two, '--batches', BATCHES, '--max-steps', '30'], port=29519)
        ts = metrics(os.path.join(FIXTURE, 'byol-ts-metrics.jsonl'))
        self.assertEqual([t['step'] for t in ts], list(range(21, 31)))
        for run in (one, two):
            got = metrics(os.path.join(run, 'metrics.jsonl'))[20:]
            for t, o in zip(ts, got):
                self.assertEqual(o['boxPairs'], 0)
                self.assertLess(abs(t['loss'] - o['loss']) / t['loss'], 1e-3, f"{run} step {t['step']}: TS {t['loss']}, torch {o['loss']}")
        d, name = worst(tensors_at(one, 30), tensors_at(two, 30))
        self.assertLess(d, 1e-4, name)


if __name__ == '__main__':
    unittest.main()
