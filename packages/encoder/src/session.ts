import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DeviceError, ModelError } from './errors.ts';

export type Device = 'auto' | 'cpu' | 'cuda';
export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  device: Device;
  /** Intra-op threads; 0 lets onnxruntime pick (one per physical core). */
  threads: number;
}

const CUDA_INSTALL_HINT =
  'onnxruntime-node installs without its CUDA provider by default; reinstall with ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` on a machine with an NVIDIA driver, CUDA 12 and cuDNN 9';

/** The folder onnxruntime-node loads its native libraries from. */
function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** True when the CUDA provider library was installed next to onnxruntime (the opt-in install). */
export function cudaProviderInstalled(): boolean {
  return existsSync(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'));
}

/**
 * Creates an inference session on the requested provider. `cuda` never falls back to the CPU:
 * if it cannot load, the error says why. `auto` uses CUDA when its provider is installed and
 * loads, otherwise the CPU, and reports which one it picked.
 */
export async function createSession(
  model: Uint8Array,
  label: string,
  options: SessionOptions,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider; fallbackReason?: string }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  if (options.device === 'cuda' || (options.device === 'auto' && cudaProviderInstalled())) {
    try {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cuda'] });
      return { session, provider: 'cuda' };
    } catch (err) {
      const reason = (err as Error).message;
      if (options.device === 'cuda') {
        const hint = cudaProviderInstalled()
          ? 'the CUDA provider is installed but did not load'
          : CUDA_INSTALL_HINT;
        throw new DeviceError(
          'CUDA_UNAVAILABLE',
          `FEVER_DEVICE=cuda, but CUDA cannot run ${label}: ${reason}. ${hint}`,
          {
            cause: err,
          },
        );
      }
      return { ...(await createCpuSession(model, label, base)), fallbackReason: reason };
    }
  }
  return createCpuSession(model, label, base);
}

async function createCpuSession(model: Uint8Array, label: string, base: ort.InferenceSession.SessionOptions) {
  try {
    const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
    return { session, provider: 'cpu' as const };
  } catch (err) {
    throw new ModelError('MODEL_LOAD_FAILED', `onnxruntime cannot load ${label}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export { ort };
