import { createHash } from 'node:crypto';
import { InputError } from '@fever/errors';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** RFC 4122 namespace for DNS names, used by the RFC's own example. */
export const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** RFC 4122 §4.3 name-based UUID (SHA-1, version 5) of a UTF-8 name within a namespace UUID. */
export function uuidV5(name: string, namespace: string): string {
  if (!isUuid(namespace)) throw new InputError('INVALID_UUID', `namespace is not a UUID: '${namespace}'`);
  const digest = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
