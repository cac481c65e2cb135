/**
 * Registers the RoiAlign kernels (cpu, wasm, webgl, webgpu) and gradient with tfjs-core's global registries,
 * once: a second copy of this package, or a test runner that reloads modules, finds them there.
 */
import * as tf from '@tensorflow/tfjs-core';
import { roiAlignGradConfig } from './gradient';
import { roiAlignGpuKernelConfigs } from './gpu/kernels';
import { roiAlignKernelConfigs } from './kernels';

export function registerRoiAlign(): void {
  for (const config of [...roiAlignKernelConfigs, ...roiAlignGpuKernelConfigs]) {
    if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
  }
  if (tf.getGradient(roiAlignGradConfig.kernelName) == null) tf.registerGradient(roiAlignGradConfig);
}

registerRoiAlign();
