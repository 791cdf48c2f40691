import { ConfigError, InputError } from '@fever/errors';

/** A model file or manifest that cannot be used (missing, corrupt, wrong checksum, bad fields). */
export class ModelError extends ConfigError {}

/** The execution provider that was asked for cannot run here. */
export class DeviceError extends ConfigError {}

/** A face box or crop request that cannot be honoured (outside the image, empty). */
export class FaceBoxError extends InputError {}
