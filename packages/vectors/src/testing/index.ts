/** Test helpers other packages may reuse: the adapter contract suite and deterministic data. */
export { type ContractTarget, vectorStoreContract } from './contract.ts';
export { bruteForceTopK, gaussian, prng, randomUnitVectors, testId } from './random.ts';
