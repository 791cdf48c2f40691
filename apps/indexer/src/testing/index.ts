export * from './harness.ts';
export { makeDistinctPhotos } from './photos.ts';
