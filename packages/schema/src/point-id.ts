import { InputError } from '@fever/errors';
import { uuidV5 } from './uuid-v5.ts';

/**
 * fever's own namespace for face point ids: uuidv5(URL namespace, 'https://fever.dev/ns/face-point').
 * Never change it: every stored point id depends on it.
 */
export const FACE_POINT_NAMESPACE = 'b846bacd-beec-503a-a5a0-e590ba988b6f';

export interface FacePointKey {
  /** collections.id: the same photo in two collections is two faces, each deleted with its collection. */
  collectionId: number;
  /** sha256 of the image bytes, lower-case hex. */
  imageSha256: string;
  /** Position of the face in the detector's output for that image, from 0. */
  faceIndex: number;
  modelId: string;
  modelVersion: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * The vector point id (and faces.id) of one face. It is a pure function of what the face is, so
 * a retried or repeated indexing job writes the same ids and never duplicates a face.
 */
export function facePointId(key: FacePointKey): string {
  if (!Number.isSafeInteger(key.collectionId) || key.collectionId < 1) {
    throw new InputError(
      'INVALID_POINT_KEY',
      `collectionId must be a positive integer, got ${key.collectionId}`,
    );
  }
  if (!SHA256_RE.test(key.imageSha256)) {
    throw new InputError('INVALID_POINT_KEY', 'imageSha256 must be 64 lower-case hex characters');
  }
  if (!Number.isSafeInteger(key.faceIndex) || key.faceIndex < 0) {
    throw new InputError('INVALID_POINT_KEY', `faceIndex must be an integer >= 0, got ${key.faceIndex}`);
  }
  if (key.modelId === '' || key.modelVersion === '') {
    throw new InputError('INVALID_POINT_KEY', 'modelId and modelVersion must not be empty');
  }
  const name = `${key.collectionId}/${key.imageSha256}/${key.faceIndex}/${key.modelId}@${key.modelVersion}`;
  return uuidV5(name, FACE_POINT_NAMESPACE);
}
