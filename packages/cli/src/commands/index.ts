import type { Command } from '../command';
import { dataGenerate } from './data-generate';
import { demo } from './demo';
import { evalDetection, evalKnn, evalLinear } from './eval';
import { evalBoxProbe, evalDenseProbe } from './eval-probes';
import { exportCommand } from './export';
import { pretrain } from './pretrain';
import { vizBoxes } from './viz-boxes';
import { zooAdd, zooBuild, zooList } from './zoo';

/** Every `scrl` command, in the order `scrl --help` lists them. */
export const commands: Command[] = [demo, pretrain, evalDetection, evalLinear, evalKnn, evalBoxProbe, evalDenseProbe, exportCommand, zooList, zooAdd, zooBuild, vizBoxes, dataGenerate];
