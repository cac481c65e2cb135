/** @scrl/models: torchvision-exact ResNets in NHWC, SCRL/BYOL heads, weight import/export. */
import '@scrl/roi-align';

export { isExcludedFromAdaptation } from './module';
export type { Module, NamedBuffer, NamedParameter, ParameterRole } from './module';
export { createResNet } from './resnet';
export type { FeatureMaps, ForwardOptions, ResNet, ResNetDepth, ResNetOptions } from './resnet';
export { predictionHead, projectionHead } from './heads';
export type { MlpHead, MlpHeadOptions } from './heads';
export { BATCH_NORM_EPS, BATCH_NORM_MOMENTUM } from './layers';
export { getBatchNormReducer, setBatchNormReducer } from './batch-norm-sync';
export type { BatchNormReducer } from './batch-norm-sync';
export { fusedBatchNormAvailable, setFusedBatchNorm } from './batch-norm-kernel';
export { fusedGroupNorm, fusedGroupNormAvailable } from './group-norm-kernel';
export { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from './safetensors';
export type { SafetensorsDtype, SafetensorsFile, SafetensorsTensor, TensorDict, TensorRecord } from './safetensors';
export {
  copyWeights,
  exportTorchvisionWeights,
  getNamedTensors,
  loadTorchvisionWeights,
  resnetArchitectureOf,
  setNamedTensors,
  toDetectron2Name,
} from './weights';
export type { ExportTorchvisionOptions, LoadTorchvisionOptions, ResNetArchitecture, SetNamedTensorsOptions } from './weights';
