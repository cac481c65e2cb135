/**
 * @scrl/eval public surface: COCO box mAP, linear probe and kNN, box and dense probes, detection
 * fine-tuning. The Node entry is the browser entry (./browser) plus the report writer, box
 * drawing, the dataset loader and the learning-rate sweep.
 */
export * from './browser';
export { CLASS_COLOURS, drawBox, drawDetections, drawText, textWidth } from './report/draw';
export type { DrawDetectionsOptions, ImageDetections } from './report/draw';
export { writeEvalReport } from './report/report';
export type { EvalReportFiles, WriteEvalReportOptions } from './report/report';
export { loadDetectionSamples } from './detection/dataset';
export { carveValidation, sweepDetectionLr } from './detection/lr-sweep';
export type { DetectionLrSweepInput, DetectionLrSweepResult, DetectionLrSweepRun } from './detection/lr-sweep';
export type { LoadDetectionSamplesOptions } from './detection/dataset';
