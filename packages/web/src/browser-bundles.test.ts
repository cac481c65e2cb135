/**
 * Item 1 of issue 16: every library package's browser entry (the `browser` condition of its
 * exports map) bundles for the browser with no Node built-in and no sharp. Bundles the built
 * `dist/` files as a browser app would, through the workspace's node_modules links.
 */
import * as path from 'node:path';
import { build, type BuildFailure } from 'esbuild';

const ROOT = path.join(__dirname, '..', '..', '..');
const ENTRIES = ['util', 'roi-align', 'augment', 'models', 'loss', 'optim', 'trainer', 'eval', 'data'].map((p) => `@scrl/${p}`);

/**
 * Bundles `export * from entry` for the browser; returns esbuild's errors. A Node built-in
 * (`node:fs`, `worker_threads`, ...) or sharp's native addon cannot be resolved there and is an
 * error; modules that a package's own `browser` field maps to `false` (tfjs-core's `util`,
 * `crypto`) are left out, as in any browser bundler.
 */
async function bundleErrors(entry: string): Promise<string[]> {
  try {
    const result = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    if (result.outputFiles[0].text.length === 0) return ['empty bundle'];
    return [];
  } catch (err) {
    return ((err as BuildFailure).errors ?? [{ text: String(err) }]).map((e) => e.text);
  }
}

/**
 * What each package's Node entry exports and its browser entry does not, on purpose (files,
 * sharp, worker threads, backend selection by environment). Any other export of the Node entry
 * must be in the browser entry too: a test fails when the two drift apart.
 */
const NODE_ONLY: Record<string, string[]> = {
  'roi-align': ['BACKEND_CHOICES', 'BACKEND_ENV_VAR', 'currentBackend', 'describeBackend', 'initBackend', 'isBackendChoice', 'parseBackendChoice'],
  'augment': ['renderBoxPairs'],
  'data': ['BOX_TOLERANCE', 'IMAGE_EXTENSIONS', 'ImageFolder', 'LabelledImageFolder', 'MAX_IMAGE_PIXELS', 'MIN_IMAGE_SIDE', 'SCENES_GENERATOR', 'VOC_CLASSES', 'ViewPairLoader', 'XmlSyntaxError', 'checkBox', 'checkScenes', 'createViewPairLoader', 'cropRgb', 'decodeImage', 'dominantClassLabels', 'encodePng', 'ensureScenes', 'generateScenes', 'imageFolderSource', 'imageSize', 'inMemorySource', 'isImageFile', 'isImageSource', 'itemRng', 'iterateImages', 'listImageFiles', 'loadCocoDataset', 'loadSceneLabels', 'loadScenes', 'loadVocDataset', 'loaderWorkerFile', 'objectCrops', 'parseVocXml', 'parseXml', 'resizeRgb', 'resolveInsideRoot', 'toCocoJson'],
  'trainer': ['CHECKPOINT_FORMAT', 'CHECKPOINT_VERSION', 'CRASH_POINTS', 'MetricsWriter', 'ProgressReporter', 'backboneFromCheckpoint', 'backboneFromInit', 'callbackHook', 'checkpointHook', 'crashPoint', 'evaluationHook', 'findLatestCheckpoint', 'formatDuration', 'imageFolderSource', 'inMemorySource', 'listCheckpoints', 'loadConfigFile', 'lossCurveHook', 'metricsHook', 'microBatchStream', 'planTraining', 'progressHook', 'readCheckpoint', 'readMetrics', 'renderLossCurve', 'resolveCheckpoint', 'resolveConfig', 'scheduleHook', 'train', 'writeCheckpoint', 'writeFileDurably', 'writeLossCurvePng', 'ParallelStepper', 'defaultThreads', 'threadCpuTime'],
  'eval': ['CLASS_COLOURS', 'carveValidation', 'drawBox', 'drawDetections', 'drawText', 'loadDetectionSamples', 'sweepDetectionLr', 'textWidth', 'writeEvalReport'],
};

describe('browser entries', () => {
  it.each(Object.keys(NODE_ONLY))('@scrl/%s: the browser entry exports everything the Node entry does but its Node-only parts', (pkg) => {
    const dist = path.join(ROOT, 'packages', pkg, 'dist');
    const node = Object.keys(require(path.join(dist, 'index.js')));
    const browser = new Set(Object.keys(require(path.join(dist, 'browser.js'))));
    expect({ pkg, missing: node.filter((n) => !browser.has(n) && !NODE_ONLY[pkg].includes(n)) }).toEqual({ pkg, missing: [] });
    expect({ pkg, staleNodeOnly: NODE_ONLY[pkg].filter((n) => !node.includes(n) || browser.has(n)) }).toEqual({ pkg, staleNodeOnly: [] });
  });

  it.each(ENTRIES)('%s bundles for the browser with no Node built-in', async (entry) => {
    expect({ entry, errors: await bundleErrors(entry) }).toEqual({ entry, errors: [] });
  });

  it('the check fails on Node built-ins: the Node entry of @scrl/trainer has them', async () => {
    const errors = await bundleErrors('./packages/trainer/dist/index.js');
    expect(errors.some((e) => e.includes('"node:fs"'))).toBe(true);
  });
});
