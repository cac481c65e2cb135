/**
 * @scrl/roi-align: RoIAlign with a gradient for TensorFlow.js (torchvision semantics), box ops,
 * and the runtime pieces every @scrl package shares: backend selection, TF.js gradient
 * registration, and the training kernels that TF.js backends lack.
 *
 * The Node entry is the browser entry (./browser) plus backend selection, which loads backend
 * packages from node_modules.
 */
export * from './browser';

export {
  BACKEND_CHOICES,
  BACKEND_ENV_VAR,
  currentBackend,
  describeBackend,
  initBackend,
  isBackendChoice,
  parseBackendChoice,
} from './runtime/backend';
export type { BackendChoice, BackendInfo, InitBackendOptions } from './runtime/backend';
