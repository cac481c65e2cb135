"""Parity of the hand-off on the fixture's dumped batches (micro-batches 20..39 of a TS run):
(a) 20 steps of one scrl_torch process equal the TypeScript run's steps 21..40;
(b) 2 gloo processes with half the batch each (DDP + SyncBatchNorm) equal 1 process;
(c) the middle leg of TS -> torchrun -> TS (the last leg is packages/cli's torch-run.test.ts);
and a torchrun killed with SIGKILL resumes to the same weights."""
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

import torch

from common import BATCHES, FIXTURE, PACKAGE, fresh_export, metrics, tempdir, torchrun
from scrl_torch import checkpoint as ck

LOSS_RTOL = 1e-3
# Linear biases in front of a BatchNorm get a zero gradient in exact arithmetic (BatchNorm
# removes any constant); what they receive is rounding noise, so they are compared absolutely.
# Measured on the fixture: (a) losses within 2.2e-5 of the TS run's, weights within 4e-5
# (relative to max(1, max |w|)); (b) 2 processes vs 1: weights within 2.3e-5, losses within 3.4e-5 (20 steps compound rounding).
ZERO_GRADIENT = ('projector.net.0.bias', 'predictor.net.0.bias')


def tensors_at(run, step):
    return ck.read_checkpoint(os.path.join(run, 'checkpoints', f'ckpt-{step:08d}.json'))['tensors']


def worst(a, b):
    """Largest |a - b| relative to max(1, max |a|) per tensor, over all tensors but the zero-gradient biases."""
    out, name = 0.0, None
    for k in a:
        if k.endswith(ZERO_GRADIENT):
            assert float((a[k] - b[k]).abs().max()) < 1e-6, k
            continue
        d = float((a[k] - b[k]).abs().max()) / max(1.0, float(a[k].abs().max()))
        if d > out:
            out, name = d, k
    return out, name


class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = __import__('tempfile').mkdtemp(prefix='scrl-torch-parity-')
        cls.one = os.path.join(cls.tmp, 'one')
        cls.two = os.path.join(cls.tmp, 'two')
        for d in (cls.one, cls.two):
            shutil.copytree(os.path.join(FIXTURE, 'export-20'), d)
        env = {**os.environ, 'PYTHONPATH': PACKAGE, 'OMP_NUM_THREADS': '1'}
        r = subprocess.run([sys.executable, '-m', 'scrl_torch.train', '--resume', cls.one, '--batches', BATCHES,
                            '--max-steps', '40', '--checkpoint-every', '10'], env=env, capture_output=True, text=True, cwd=PACKAGE)
        assert r.returncode == 0, r.stderr[-3000:]
        torchrun(['--resume', cls.two, '--batches', BATCHES, '--max-steps', '40', '--checkpoint-every', '10'])
        cls.ts = metrics(os.path.join(FIXTURE, 'ts-metrics.jsonl'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def check_losses(self, run):
        got = metrics(os.path.join(run, 'metrics.jsonl'))
        self.assertEqual([r['step'] for r in got], list(range(1, 41)))
        for t, o in zip(self.ts[20:40], got[20:40]):
            self.assertEqual(t['boxPairs'], o['boxPairs'], f"step {t['step']}")
            self.assertAlmostEqual(t['lr'], o['lr'], places=12)
            self.assertAlmostEqual(t['momentum'], o['momentum'], places=12)
            self.assertLess(abs(t['loss'] - o['loss']) / abs(t['loss']), LOSS_RTOL, f"step {t['step']}: TS {t['loss']}, torch {o['loss']}")

    def test_a_one_process_equals_the_typescript_steps(self):
        self.check_losses(self.one)
        ts40 = ck.read_checkpoint(os.path.join(FIXTURE, 'ts-40', 'ckpt-00000040.json'))['tensors']
        d, name = worst(ts40, tensors_at(self.one, 40))
        self.assertLess(d, 1e-4, name)

    def test_b_two_gloo_processes_equal_one(self):
        for step in (30, 40):
            d, name = worst(tensors_at(self.one, step), tensors_at(self.two, step))
            self.assertLess(d, 1e-4, f'step {step}: {name}')
        a = metrics(os.path.join(self.one, 'metrics.jsonl'))
        b = metrics(os.path.join(self.two, 'metrics.jsonl'))
        for x, y in zip(a[20:], b[20:]):
            self.assertLess(abs(x['loss'] - y['loss']) / x['loss'], 1e-4)

    def test_c_torchrun_leg_equals_the_typescript_steps_and_writes_our_format(self):
        self.check_losses(self.two)
        c = ck.read_checkpoint(os.path.join(self.two, 'checkpoints', 'ckpt-00000040.json'))
        self.assertEqual(c['state']['config'], ck.read_checkpoint(os.path.join(FIXTURE, 'ts-40', 'ckpt-00000040.json'))['state']['config'])
        self.assertEqual(c['state']['optimizer']['steps'], 40)
        self.assertEqual(c['state']['rng']['microBatchesSeen'], 40)

    def test_resumes_after_sigkill_to_the_same_weights(self):
        run = fresh_export(tempdir(self))
        p = torchrun(['--resume', run, '--batches', BATCHES, '--max-steps', '40', '--checkpoint-every', '3'], background=True, port=29513)
        target = os.path.join(run, 'checkpoints', 'ckpt-00000027.json')
        deadline = time.time() + 240
        while not os.path.exists(target) and p.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        self.assertTrue(os.path.exists(target), 'the first run never reached step 27')
        killed_at = ck.find_latest_checkpoint(os.path.join(run, 'checkpoints'))['step']
        self.assertLess(killed_at, 40)
        torchrun(['--resume', run, '--batches', BATCHES, '--max-steps', '30'], port=29515)
        d, name = worst(tensors_at(self.two, 30), tensors_at(run, 30))
        self.assertLess(d, 1e-6, name)
        self.assertEqual([r['step'] for r in metrics(os.path.join(run, 'metrics.jsonl'))], list(range(1, 31)))


if __name__ == '__main__':
    unittest.main()
