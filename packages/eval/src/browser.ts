/**
 * @scrl/eval for browsers (the `browser` condition of the exports map): COCO box mAP, the
 * probes (linear, kNN, box, dense) and detection fine-tuning; not the report writer and box
 * drawing (files, sharp) or the dataset loader.
 */
export {
  COCO_AREA_LABELS,
  COCO_AREA_RANGES,
  COCO_IOU_THRESHOLDS,
  COCO_MAX_DETS,
  COCO_RECALL_THRESHOLDS,
  COCO_STAT_NAMES,
  evaluateCoco,
  formatCocoStats,
} from './coco/evaluate-coco';
export type { CocoAnnotation, CocoDetection, CocoEvalResult, CocoGroundTruth, CocoStatName } from './coco/evaluate-coco';
export { IMAGENET_MEAN, IMAGENET_STD, imagesToTensor } from './backbone';
export type { Backbone, BackboneFeatureMaps, ImagesToTensorOptions } from './backbone';
export { extractFeatures, knnClassify, linearProbe } from './probe/probes';
export type { ExtractFeaturesOptions, KnnOptions, LinearProbeOptions, LinearProbeResult, ProbeResult } from './probe/probes';
export { recomputeBatchNorm, withRecomputedBatchNorm } from './probe/batch-norm';
export type { RecomputeBatchNormOptions, RecomputeBatchNormResult } from './probe/batch-norm';
export { DEFAULT_LAMBDAS, fitSoftmaxRegression, logisticRegression } from './probe/logistic';
export type { LogisticRegressionOptions, LogisticRegressionResult } from './probe/logistic';
export { boxProbe } from './probe/box-probe';
export type { BoxProbeFeatures, BoxProbeOptions, BoxProbeResult } from './probe/box-probe';
export { denseProbe, denseTargets, segmentationScores } from './probe/dense-probe';
export type { DenseProbeOptions, DenseProbeResult, SegmentationScores } from './probe/dense-probe';
export { createFcosDetector, decodeFcos, fcosLoss, fcosTargets } from './detection/fcos';
export { groupNorm } from './detection/group-norm';
export type {
  DecodeOptions,
  FcosTargetOptions,
  DetectionTargetsInput,
  FcosDetection,
  FcosDetector,
  FcosLevel,
  FcosLossTerms,
  FcosOptions,
  FcosOutputs,
  FcosTargets,
} from './detection/fcos';
export {
  createDetectionTraining,
  DEFAULT_DETECTION_CONFIG,
  detectImages,
  detectionTrainStep,
  detectionLearningRate,
  fineTuneDetection,
  samplesToCoco,
  flipImage,
} from './detection/finetune';
export type {
  DetectionCategory,
  DetectionEvalResult,
  DetectionFineTuneConfig,
  DetectionFineTuneInput,
  DetectionSample,
  DetectionStepInfo,
  DetectionTrainingState,
  DetectionTrainStepContext,
} from './detection/finetune';
export { rescaleConvNorms } from './rescale';
export type { RescaledConv } from './rescale';
