import type { EncoderOptions } from '@fever/encoder';
import { InputError } from '@fever/errors';
import { type Config, detectorChoice } from '@fever/schema';
import { numberFlag } from './number-flags.ts';

/** Flags every command that runs the encoder accepts; they override the env config. */
export interface EncoderFlags {
  device?: string;
  threads?: string;
  model?: string;
  /** tiny | tiny-608 | ssd | a detector manifest path. */
  detector?: string;
  inputSize?: string;
  minScore?: string;
}

function optionalNumber(
  name: string,
  value: string | undefined,
  check: (n: number) => boolean,
  rule: string,
) {
  return value === undefined ? undefined : numberFlag(name, value, check, rule);
}

export function encoderOptions(
  config: Config,
  flags: EncoderFlags,
  log: (line: string) => void,
): EncoderOptions {
  const device = flags.device ?? config.device;
  if (!['auto', 'cpu', 'cuda'].includes(device)) {
    throw new InputError('BAD_FLAG', `--device must be auto, cpu or cuda, got '${device}'`);
  }
  const inputSize = optionalNumber(
    'input-size',
    flags.inputSize,
    (n) => Number.isInteger(n) && n >= 32 && n % 32 === 0,
    'must be a multiple of 32',
  );
  const scoreThreshold = optionalNumber(
    'min-score',
    flags.minScore,
    (n) => n >= 0 && n < 1,
    'must be in [0, 1)',
  );
  return {
    device: device as EncoderOptions['device'],
    threads:
      optionalNumber(
        'threads',
        flags.threads,
        (n) => Number.isInteger(n) && n >= 0,
        'must be a whole number',
      ) ??
      config.threads ??
      0,
    expressionModel: flags.model ?? config.modelManifest,
    detectorModel:
      flags.detector === undefined ? config.detector : detectorChoice(flags.detector, process.cwd()),
    detector: {
      ...(inputSize === undefined ? {} : { inputSize }),
      ...(scoreThreshold === undefined ? {} : { scoreThreshold }),
    },
    logger: {
      info: (fields, message) =>
        log(`${message} (${fields.model}, detector ${fields.detector}, ${fields.threads} threads)`),
      warn: (fields, message) => log(`${message}: ${fields.reason}`),
    },
  };
}
