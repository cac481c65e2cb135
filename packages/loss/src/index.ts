/** @scrl/loss public surface. */
