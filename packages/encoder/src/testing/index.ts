export { samplePhotos, sharedData } from './paths.ts';
