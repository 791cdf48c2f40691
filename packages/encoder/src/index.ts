export {
  type CompositeManifest,
  type ExpressionManifest,
  type ExpressionModelSpec,
  hasProbs,
  loadExpressionModel,
} from './composite.ts';
export { composeBaseHead } from './convert/base-head.ts';
export {
  composeHeadModel,
  expressionBlockTensors,
  expressionTrunkPrefixModel,
} from './convert/face-api.ts';
export {
  type HeadFile,
  type LoadedHead,
  listHeadDirs,
  readHeadFiles,
  writeHeadFiles,
} from './convert/head-files.ts';
export {
  DENSE_BLOCK_SHAPES,
  DENSE_BLOCKS,
  type DenseBlockName,
  type ExpressionHead,
  HEAD_INPUT_DIMS,
  type HeadInput,
  type HeadLayer,
  type TrunkFeatures,
  type TrunkTensor,
} from './convert/networks.ts';
export type { ConvertedModel } from './convert/write-model.ts';
export {
  DEFAULT_MAX_PIXELS,
  type DecodeOptions,
  decodeImage,
  ImageDecodeError,
  type ReadImageOptions,
  type RgbImage,
  readImageFile,
} from './decode.ts';
export { type Box, type Detection, type DetectorOptions, iou } from './detector.ts';
export {
  type EncodeOptions,
  Encoder,
  type EncoderLogger,
  type EncoderOptions,
  type Face,
} from './encoder.ts';
export { DeviceError, FaceBoxError, ModelError } from './errors.ts';
export { l2Normalize } from './expression.ts';
export { FaceNetwork, openFaceNetwork } from './face-network.ts';
export { IdentityModel, landmarkRegion } from './identity.ts';
export { eyeLineAngle, LandmarkModel } from './landmarks.ts';
export {
  loadModel,
  type ModelManifest,
  modelManifestSchema,
  validateManifest,
} from './manifest.ts';
export {
  bundledManifestPath,
  DEFAULT_DETECTOR_MANIFEST,
  DEFAULT_EXPRESSION_MANIFEST,
  DEFAULT_IDENTITY_MANIFEST,
  DEFAULT_LANDMARKS_MANIFEST,
  DEFAULT_MODELS_DIR,
  DETECTOR_MANIFESTS,
  detectorManifest,
  FACE_API_EXPRESSION_MANIFEST,
} from './model-paths.ts';
export { type AttributeValue, attr, GraphBuilder } from './onnx/graph.ts';
export { expressionInput, type FaceCrop } from './preprocess.ts';
export { cudaProviderInstalled, type Device, type ExecutionProvider } from './session.ts';
export { sha256Bytes, sha256File } from './sha256.ts';
