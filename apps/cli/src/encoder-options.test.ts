import { resolve } from 'node:path';
import { DETECTOR_MANIFESTS, loadModel } from '@fever/encoder';
import { DETECTORS, parseConfig } from '@fever/schema';
import { describe, expect, it } from 'vitest';
import { encoderOptions } from './encoder-options.ts';

describe('encoder options: the detector', () => {
  it('every name FEVER_DETECTOR takes is a bundled face detector', async () => {
    expect(Object.keys(DETECTOR_MANIFESTS).sort()).toEqual([...DETECTORS].sort());
    for (const name of DETECTORS) {
      expect((await loadModel(DETECTOR_MANIFESTS[name]!)).manifest.task).toBe('face-detector');
    }
  });

  it('--detector overrides FEVER_DETECTOR; a path is taken against the working directory', () => {
    const config = parseConfig({ FEVER_DETECTOR: 'ssd' }, { cwd: '/srv' });
    const options = (flags: { detector?: string }) => encoderOptions(config, flags, () => {}).detectorModel;
    expect(options({})).toBe('ssd');
    expect(options({ detector: 'tiny-608' })).toBe('tiny-608');
    expect(options({ detector: 'detectors/mine.json' })).toBe(resolve('detectors/mine.json'));
    expect(encoderOptions(parseConfig({}), {}, () => {}).detectorModel).toBeUndefined();
  });
});
