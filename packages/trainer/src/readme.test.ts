import * as path from 'node:path';
import { describeReadmeExamples } from '@scrl/testing';

jest.setTimeout(300_000);

describeReadmeExamples(path.join(__dirname, '..', 'README.md'), require);
