export { duoComposite, maxAbsDiff } from './models.ts';
export { samplePhotos, sharedData } from './paths.ts';
