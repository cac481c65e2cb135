/**
 * Worker-thread entry of the view-pair loader: builds the batches it is sent, one at a time,
 * and transfers the pixel buffers back (no copy).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchBuilder, type BatchConfig, type BatchJob } from './loader-batch';

if (!parentPort) throw new Error('loader-worker.js must be started as a worker thread by the view-pair loader.');
const port = parentPort;
const builder = createBatchBuilder(workerData as BatchConfig);

// Jobs are built strictly in the order received, so a worker is never building two at once.
let chain: Promise<void> = Promise.resolve();
port.on('message', (job: BatchJob) => {
  chain = chain.then(async () => {
    try {
      const result = await builder.build(job);
      port.postMessage({ ok: true, result }, [result.view1.buffer as ArrayBuffer, result.view2.buffer as ArrayBuffer]);
    } catch (err) {
      const e = err as Error;
      port.postMessage({ ok: false, jobId: job.jobId, message: e.message, stack: e.stack });
    }
  });
});
