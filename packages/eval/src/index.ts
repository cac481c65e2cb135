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
