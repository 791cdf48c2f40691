export * from './harness.ts';
export { makeDistinctPhotos } from './photos.ts';
export { parsePrometheus, type Sample, Scrape } from './prometheus.ts';
export { PrivateQdrant, qdrantBinary } from './qdrant.ts';
