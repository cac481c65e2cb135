/** @scrl/eval public surface: COCO box mAP, linear probe and kNN, box and dense probes, detection fine-tuning. */
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
export type {
  CocoAnnotation,
  CocoDetection,
  CocoEvalResult,
  CocoGroundTruth,
  CocoStatName,
} from './coco/evaluate-coco';
export { IMAGENET_MEAN, IMAGENET_STD, imagesToTensor } from './backbone';
export type { Backbone, BackboneFeatureMaps, ImagesToTensorOptions } from './backbone';
export { extractFeatures, knnClassify, linearProbe } from './probe/probes';
export type {
  ExtractFeaturesOptions,
  KnnOptions,
  LinearProbeOptions,
  LinearProbeResult,
  ProbeResult,
} from './probe/probes';
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
export { CLASS_COLOURS, drawBox, drawDetections, drawText, textWidth } from './report/draw';
export type { DrawDetectionsOptions, ImageDetections } from './report/draw';
export { writeEvalReport } from './report/report';
export type { EvalReportFiles, WriteEvalReportOptions } from './report/report';
export { loadDetectionSamples } from './detection/dataset';
export { carveValidation, sweepDetectionLr } from './detection/lr-sweep';
export type { DetectionLrSweepInput, DetectionLrSweepResult, DetectionLrSweepRun } from './detection/lr-sweep';
export { rescaleConvNorms } from './rescale';
export type { RescaledConv } from './rescale';
export type { LoadDetectionSamplesOptions } from './detection/dataset';
