import { InputError } from '@fever/errors';
import type { Context } from 'hono';
import type { AppEnv } from './context.ts';

const HOW =
  "send the photo as multipart/form-data (file field 'image') or as the raw body with Content-Type image/*";

/**
 * The bytes of an uploaded example photo. Refuses, with a 4xx naming the problem: no or an empty
 * body, a content type that is not an image or a form, and a form without a file. Whether the
 * bytes really are an image is for the decoder to say (IMAGE_UNSUPPORTED, 415).
 */
export async function readImageUpload(c: Context<AppEnv>): Promise<{ bytes: Uint8Array; name: string }> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch (err) {
      if ((err as { code?: string }).code === 'PAYLOAD_TOO_LARGE') throw err;
      throw new InputError(
        'INVALID_MULTIPART',
        `the multipart body cannot be parsed: ${(err as Error).message}`,
      );
    }
    const field =
      form.get('image') ?? form.get('file') ?? [...form.values()].find((v) => typeof v !== 'string');
    if (!field || typeof field === 'string') {
      throw new InputError('IMAGE_MISSING', `the form has no file field 'image'; ${HOW}`);
    }
    const bytes = new Uint8Array(await field.arrayBuffer());
    if (bytes.length === 0) throw new InputError('EMPTY_BODY', `the uploaded file '${field.name}' is empty`);
    return { bytes, name: field.name || 'upload' };
  }
  if (type.startsWith('image/') || type === 'application/octet-stream') {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) throw new InputError('EMPTY_BODY', `the request body is empty; ${HOW}`);
    return { bytes, name: 'upload' };
  }
  if (type === '') {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) throw new InputError('EMPTY_BODY', `the request has no body; ${HOW}`);
    throw new InputError('UNSUPPORTED_MEDIA_TYPE', `the request has no Content-Type; ${HOW}`, {
      status: 415,
    });
  }
  throw new InputError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type} is not an image; ${HOW}`, {
    status: 415,
  });
}

/** A JSON request body: 415 unless JSON, 400 for an empty or malformed one. */
export async function readJson(c: Context<AppEnv>, options: { optional?: boolean } = {}): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const text = await c.req.text();
  // An optional body (all its fields have defaults) may be left out.
  if (text.trim() === '' && options.optional) return {};
  if (text.trim() === '') throw new InputError('EMPTY_BODY', 'the request body is empty; send a JSON object');
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new InputError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${type || '(none)'} is not application/json`,
      {
        status: 415,
      },
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
}
