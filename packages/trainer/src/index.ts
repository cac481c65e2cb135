/** @scrl/trainer public surface. */
