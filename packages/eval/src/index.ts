/** @scrl/eval public surface. */
