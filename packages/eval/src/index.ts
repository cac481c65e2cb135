/** @scrl/eval public surface: COCO box mAP, linear probe and kNN, detection fine-tuning. */
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
export { createFcosDetector, decodeFcos, fcosLoss, fcosTargets, groupNorm } from './detection/fcos';
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
  DEFAULT_DETECTION_CONFIG,
  detectImages,
  detectionLearningRate,
  fineTuneDetection,
  samplesToCoco,
} from './detection/finetune';
export type {
  DetectionCategory,
  DetectionEvalResult,
  DetectionFineTuneConfig,
  DetectionFineTuneInput,
  DetectionSample,
  DetectionStepInfo,
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
