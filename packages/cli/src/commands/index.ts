import type { Command } from '../command';

/** Every `scrl` command, in the order `scrl --help` lists them. */
export const commands: Command[] = [];
