export { type FeatureSet, trunkFeatures } from './features.ts';
export { HeadModel } from './head-model.ts';
export { precisionAtK } from './monitor.ts';
export { type HeadTrainingOptions, type HeadTrainingResult, runHeadTraining } from './run.ts';
export { type Split, stratifiedSplit } from './split.ts';
export { DEFAULT_TRAIN_OPTIONS, type HeadLoss, type TrainOptions, trainHead } from './train.ts';
