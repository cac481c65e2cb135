/**
 * @scrl/loss: BYOL / SCRL regression losses for TensorFlow.js, each usable on its own in a
 * user's training loop.
 */
import '@scrl/roi-align';

export { l2Normalize, NORMALIZE_EPS } from './normalize';
export { byolLoss, regressionLoss, scrlLoss } from './regression';
export { infoNce } from './info-nce';
