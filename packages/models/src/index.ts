/** @scrl/models: torchvision-exact ResNets in NHWC, SCRL/BYOL heads, weight import/export. */
export { isExcludedFromAdaptation } from './module';
export type { Module, NamedBuffer, NamedParameter, ParameterRole } from './module';
