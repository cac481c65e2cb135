/**
 * What every trainable piece (backbone, head) exposes, so that the trainer, the EMA update,
 * LARS and checkpoints can work on any of them by role and by stable name.
 */
import type * as tf from '@tensorflow/tfjs-core';

/**
 * A parameter's role decides how optimisers treat it. LARS and weight decay exclude
 * `bn-weight`, `bn-bias` and `bias` (SCRL reference, section 5), decided here rather than by
 * matching names.
 */
export type ParameterRole = 'weight' | 'bias' | 'bn-weight' | 'bn-bias';

export interface NamedParameter {
  /** Stable name, torchvision-style (`layer1.0.conv1.weight`, `fc.bias`). */
  name: string;
  variable: tf.Variable;
  role: ParameterRole;
}

/** Non-trainable state saved with checkpoints, e.g. BatchNorm running statistics. */
export interface NamedBuffer {
  /** Stable name, torchvision-style (`bn1.running_mean`). */
  name: string;
  variable: tf.Variable;
}

export interface Module {
  /** Trainable parameters in a stable order. */
  parameters(): NamedParameter[];
  /** Non-trainable state in a stable order. */
  buffers(): NamedBuffer[];
  /** Frees every variable the module owns. */
  dispose(): void;
}

/** True when LARS adaptation and weight decay must skip this parameter. */
export function isExcludedFromAdaptation(role: ParameterRole): boolean {
  return role !== 'weight';
}
