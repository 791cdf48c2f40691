export {
  type ClusterOptions,
  clusterDescriptors,
  DEFAULT_LINK_DISTANCE,
  DEFAULT_NEIGHBOURS,
  EXACT_LIMIT,
  SAME_PERSON_DISTANCE,
} from './cluster.ts';
export { type PairwiseAgreement, pairwiseAgreement } from './metrics.ts';
export { type StableIdResult, stableIds } from './stable-ids.ts';
