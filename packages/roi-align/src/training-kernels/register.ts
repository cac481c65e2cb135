/**
 * Side-effect module: registers the training kernels when `@scrl/roi-align` is imported.
 *
 * A backend package registers its stock kernels when it is first required, and a later
 * registration of the same kernel silently wins. So the backends installed here are loaded
 * first (the same packages `initBackend` loads later; requiring them does not initialize or
 * select them), then ours go on top. Absent backend packages are skipped.
 */
import { registerTrainingKernels } from './registry';

for (const pkg of ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']) {
  try {
    require(pkg);
  } catch {
    // Not installed: nothing of ours is used on it either.
  }
}

registerTrainingKernels();
