/** @scrl/cli public surface. */
