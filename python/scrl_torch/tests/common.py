"""Paths and helpers shared by the tests of the PyTorch hand-off."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PACKAGE))
FIXTURE = os.path.join(REPO, 'packages', 'cli', 'src', '__fixtures__', 'torch-run')
BATCHES = os.path.join(FIXTURE, 'batches')
TORCHRUN = shutil.which('torchrun') or '/usr/bin/torchrun'
if PACKAGE not in sys.path:
    sys.path.insert(0, PACKAGE)


def metrics(path):
    with open(path, encoding='utf8') as f:
        return [json.loads(line) for line in f if line.strip()]


def fresh_export(tmp):
    """A writable copy of the fixture's torch-run export (step 20), under ``tmp``."""
    out = os.path.join(tmp, 'run')
    shutil.copytree(os.path.join(FIXTURE, 'export-20'), out)
    info_path = os.path.join(out, 'run.json')
    with open(info_path, encoding='utf8') as f:
        info = json.load(f)
    # run.json names the images relative to the fixture's export-20; the copy lives elsewhere.
    info['data']['folder'] = os.path.join(FIXTURE, 'scenes', 'images')
    with open(info_path, 'w', encoding='utf8') as f:
        json.dump(info, f, indent=2)
    return out


def torchrun(args, nproc=2, timeout=300, **popen):
    """``torchrun --nproc_per_node N -m scrl_torch.train ARGS`` on localhost with gloo.
    ``--redirects 2 --tee 2``: Debian's torch 1.13 under Python 3.11 fails on the default "0"
    (its Std enum lookup), so a non-zero value is passed."""
    cmd = [TORCHRUN, '--redirects', '2', '--tee', '2', '--nnodes', '1', '--nproc_per_node', str(nproc),
           '--master_port', str(popen.pop('port', 29511)), '-m', 'scrl_torch.train', *args]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': PACKAGE}
    if popen.pop('background', False):
        return subprocess.Popen(cmd, cwd=PACKAGE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    r = subprocess.run(cmd, cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f'torchrun failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}')
    return r


def tempdir(test):
    d = tempfile.mkdtemp(prefix='scrl-torch-test-')
    test.addCleanup(shutil.rmtree, d, True)
    return d
