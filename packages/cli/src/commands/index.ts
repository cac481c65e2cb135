import type { Command } from '../command';
import { dataGenerate } from './data-generate';

/** Every `scrl` command, in the order `scrl --help` lists them. */
export const commands: Command[] = [dataGenerate];
