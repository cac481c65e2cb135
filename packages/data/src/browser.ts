/**
 * @scrl/data for browsers (the `browser` condition of the exports map): the built-in scenes,
 * rendered in memory. The folder, COCO and VOC readers, decoding
 * (sharp) and the worker-thread loader are Node only.
 */
export { DataError, isDataError } from './errors';
export type { SkippedFile, WarnFn } from './errors';
export { renderScene, SCENE_CLASSES } from './scene-render';
export type { RenderedScene, RenderSceneOptions, SceneObject } from './scene-render';
