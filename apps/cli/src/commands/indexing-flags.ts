import type { Logger } from '@fever/core';
import type { Config } from '@fever/schema';
import { wholeNumberFlag } from '../number-flags.ts';

/** A whole-number flag in [min, max], or undefined when absent. */
export function intFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  return value === undefined ? undefined : wholeNumberFlag(name, value, min, max);
}

/**
 * Logs on stderr, as FEVER_LOG_FORMAT says. On a terminal the progress bar is the interface, so
 * routine `info` lines are left out there unless FEVER_LOG_LEVEL asks for more (debug/trace).
 */
export async function indexingLogger(config: Config): Promise<Logger> {
  // Loaded on use: `fever --help` and light commands do not pay for core.
  const { createLogger } = await import('@fever/core');
  const quiet = process.stderr.isTTY && config.logLevel === 'info';
  return createLogger({ logLevel: quiet ? 'warn' : config.logLevel, logFormat: config.logFormat });
}
