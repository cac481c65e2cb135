/** @scrl/data public surface. */
