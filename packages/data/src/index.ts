/**
 * @scrl/data: datasets for SCRL. Readers for image folders, COCO and Pascal VOC; the built-in
 * generated scenes; and a prefetching view-pair loader running in worker threads.
 *
 * The Node entry is the browser entry (./browser: the scenes rendered in memory, the errors)
 * plus everything that reads files, decodes with sharp or starts worker threads.
 */
export * from './browser';

export { resolveInsideRoot } from './containment';
export type { ContainmentOptions } from './containment';
export { decodeImage, encodePng, imageSize, IMAGE_EXTENSIONS, isImageFile, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE } from './decode';
export { ImageFolder, LabelledImageFolder, iterateImages, listImageFiles } from './image-folder';
export type { FolderImage, FolderOptions, LabelledSample } from './image-folder';
export { BOX_TOLERANCE, checkBox, cropRgb, dominantClassLabels, objectCrops, resizeRgb, toCocoJson } from './detection';
export type {
  CocoJson,
  DetectionAnnotation,
  DetectionCategory,
  DetectionDataset,
  DetectionImage,
  ObjectCrop,
  ObjectCropOptions,
  ToCocoJsonOptions,
} from './detection';
export { loadCocoDataset } from './coco';
export { loadVocDataset, parseVocXml, VOC_CLASSES } from './voc';
export type { LoadVocOptions, VocAnnotation } from './voc';
export { parseXml, XmlSyntaxError } from './xml';
export type { XmlElement } from './xml';
export { checkScenes, ensureScenes, generateScenes, loadSceneLabels, loadScenes, SCENES_GENERATOR } from './scenes';
export type { GenerateScenesOptions, ScenesInfo } from './scenes';
export { imageFolderSource, inMemorySource, isImageSource } from './image-source';
export type { ImageSource } from './image-source';
export { createViewPairLoader, loaderWorkerFile, ViewPairLoader } from './loader';
export type { LoaderStats, ViewPairBatch, ViewPairLoaderOptions, ViewPairSource } from './loader';
export { itemRng } from './loader-batch';
