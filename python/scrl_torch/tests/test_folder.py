"""The trainer's own data path: images from the folder, in the loader's order, with its own
views and boxes, on 1 and 2 processes; and a config change with --set."""
import json
import os
import shutil
import subprocess
import sys
import unittest

from common import FIXTURE, PACKAGE, fresh_export, metrics, tempdir, torchrun

IMAGES = os.path.join(FIXTURE, 'scenes', 'images')


def train(args):
    env = {**os.environ, 'PYTHONPATH': PACKAGE, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-m', 'scrl_torch.train', *args], env=env, capture_output=True, text=True, cwd=PACKAGE)
    if r.returncode != 0:
        raise AssertionError(r.stderr[-3000:])
    return r


class FolderTest(unittest.TestCase):
    def test_images_from_the_folder_give_the_typescript_steps_on_1_and_2_processes(self):
        ts = metrics(os.path.join(FIXTURE, 'ts-metrics.jsonl'))
        one = fresh_export(tempdir(self))
        two = fresh_export(tempdir(self))
        # The first reads the folder from run.json, the second is given --data.
        train(['--resume', one, '--max-steps', '23'])
        torchrun(['--resume', two, '--data', IMAGES, '--max-steps', '23'], port=29517)
        for run in (one, two):
            got = metrics(os.path.join(run, 'metrics.jsonl'))[20:]
            self.assertEqual([r['step'] for r in got], [21, 22, 23])
            for t, o in zip(ts[20:23], got):
                self.assertEqual(t['boxPairs'], o['boxPairs'])
                self.assertLess(abs(t['loss'] - o['loss']) / t['loss'], 1e-3, f"{run} step {t['step']}")

    def test_set_changes_the_batch_and_replans(self):
        run = fresh_export(tempdir(self))
        r = train(['--resume', run, '--set', 'batch.size=8', '--max-steps', '21'])
        self.assertIn('config changed by --set', r.stderr)
        with open(os.path.join(run, 'pretrain-config.json'), encoding='utf8') as f:
            self.assertEqual(json.load(f)['batch']['size'], 8)
        last = metrics(os.path.join(run, 'metrics.jsonl'))[-1]
        # peak lr 0.45 x 8 / 256; the fixture's fixed 60-step schedule keeps its length, warmup 6 steps
        import math
        self.assertAlmostEqual(last['lr'], 0.45 * 8 / 256 * (1 + math.cos(math.pi * (20 - 6) / (60 - 6))) / 2, places=12)

    def test_refuses_a_folder_of_another_size_and_a_folder_without_checkpoints(self):
        tmp = tempdir(self)
        run = fresh_export(tmp)
        few = os.path.join(tmp, 'few')
        os.makedirs(few)
        for name in sorted(os.listdir(IMAGES))[:5]:
            shutil.copy(os.path.join(IMAGES, name), few)
        env = {**os.environ, 'PYTHONPATH': PACKAGE}
        r = subprocess.run([sys.executable, '-m', 'scrl_torch.train', '--resume', run, '--data', few],
                           env=env, capture_output=True, text=True, cwd=PACKAGE)
        self.assertEqual(r.returncode, 2)
        self.assertIn('planned for 16', r.stderr)
        r = subprocess.run([sys.executable, '-m', 'scrl_torch.train', '--resume', os.path.join(run, 'nothing')],
                           env=env, capture_output=True, text=True, cwd=PACKAGE)
        self.assertEqual(r.returncode, 2)
        self.assertIn('scrl export --format torch-run', r.stderr)


if __name__ == '__main__':
    unittest.main()
