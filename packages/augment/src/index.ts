/** @scrl/augment public surface. */
