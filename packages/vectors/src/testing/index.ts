/** Test helpers other packages may reuse: the adapter contract suite and deterministic data. */
export { type ContractTarget, vectorStoreContract } from './contract.ts';
export {
  bruteForceTopK,
  clusteredUnitVectors,
  gaussian,
  prng,
  RANDOM_DATA_EF_SEARCH,
  randomUnitVectors,
  testId,
} from './random.ts';
