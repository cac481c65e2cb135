"""scrl_torch: the PyTorch (DDP, torchrun) continuation of @scrl/trainer's pretraining runs.

``python -m scrl_torch.train --resume DIR`` (or under ``torchrun``) continues a run folder written
by ``scrl export --format torch-run``; its checkpoints are @scrl/trainer checkpoints.
"""
__version__ = '0.1.0'
