/** @scrl/models public surface. */
