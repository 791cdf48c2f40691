/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that parse requests (and type
 * responses): each route is registered once, with its handler and its description, through
 * Router, so the document cannot drift from the routes.
 */
import { errorResponseSchema } from '@fever/schema';
import { type Handler, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from './context.ts';

type Method = 'get' | 'post' | 'put' | 'delete';

export interface ResponseDoc {
  description: string;
  /** JSON body schema; or a non-JSON content type with no schema (image/jpeg, text/html). */
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteDoc {
  method: Method;
  /** Hono syntax (`/faces/:id`), relative to the router's prefix. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** A JSON body schema, or raw content types (an upload). */
  body?: {
    schema?: z.ZodType;
    content?: Record<string, Record<string, unknown>>;
    description?: string;
    /** The body may be left out (every field has a default). */
    optional?: boolean;
  };
  responses: Record<number, ResponseDoc>;
  /** false: answered without the bearer token (health checks, the page shell). */
  auth?: boolean;
  /** Not listed in the document (the page's own assets). */
  hidden?: boolean;
}

/** A Hono sub-app that records the description of each route it serves. */
export class Router {
  readonly app = new Hono<AppEnv>();
  readonly docs: RouteDoc[] = [];

  constructor(readonly prefix: string) {}

  add(doc: RouteDoc, handler: Handler<AppEnv>): this {
    this.app.on([doc.method.toUpperCase()], [doc.path], handler);
    const full = `${this.prefix}${doc.path === '/' && this.prefix ? '' : doc.path}`;
    this.docs.push({ ...doc, path: full || '/' });
    return this;
  }
}

/** Schemas shown under components/schemas, by name. */
export type NamedSchemas = Record<string, z.ZodType>;

const ERROR_STATUSES: Record<number, string> = {
  400: 'Bad request: a parameter or the body is invalid (the message names it)',
  401: 'Missing or wrong bearer token',
  404: 'Unknown id or name',
  409: 'Conflict with the current state',
  413: 'Body over the upload limit, or an image over the pixel limit',
  415: 'Unsupported content type or image format',
  503: 'A dependency (database, vector store) is unavailable',
};

export function openApiDocument(
  routes: readonly RouteDoc[],
  named: NamedSchemas,
  info: { title: string; version: string; description: string },
): Record<string, unknown> {
  // One registry for every body/response schema, so shared ones become $refs.
  const registry = z.registry<{ id: string }>();
  const ids = new Map<z.ZodType, string>();
  const idFor = (schema: z.ZodType, fallback: string): string => {
    let id = ids.get(schema);
    if (!id) {
      id = Object.entries(named).find(([, s]) => s === schema)?.[0] ?? fallback;
      ids.set(schema, id);
      registry.add(schema, { id });
    }
    return id;
  };
  for (const [name, schema] of Object.entries(named)) idFor(schema, name);
  idFor(errorResponseSchema, 'ErrorResponse');

  const paths: Record<string, Record<string, unknown>> = {};
  const bodies = new Set<string>();
  for (const route of routes) {
    if (route.hidden) continue;
    const opId = operationId(route);
    const parameters = [...paramsOf(route.params, 'path'), ...paramsOf(route.query, 'query')];
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(route.responses)) {
      // An error is answered as ErrorResponse whatever the route says beside its description.
      const schema = res.schema ?? (Number(status) >= 400 ? errorResponseSchema : undefined);
      responses[status] = responseObject(res, schema ? idFor(schema, `${opId}_${status}`) : undefined);
    }
    for (const status of errorStatuses(route)) {
      responses[status] ??= {
        description: ERROR_STATUSES[status],
        content: { 'application/json': { schema: { $ref: ref('ErrorResponse') } } },
      };
    }
    let requestBody: Record<string, unknown> | undefined;
    if (route.body) {
      const content: Record<string, unknown> = { ...route.body.content };
      if (route.body.schema) {
        const id = idFor(route.body.schema, `${opId}_body`);
        bodies.add(id);
        content['application/json'] = { schema: { $ref: ref(id) } };
      }
      requestBody = { required: route.body.optional !== true, description: route.body.description, content };
    }
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: opId,
      tags: [route.tag],
      summary: route.summary,
      description: route.description,
      security: route.auth === false ? [] : undefined,
      parameters: parameters.length ? parameters : undefined,
      requestBody,
      responses,
    };
  }

  const schemas = bodyAndResponseSchemas(registry, bodies);
  return JSON.parse(
    JSON.stringify({
      openapi: '3.1.0',
      info,
      servers: [{ url: '/' }],
      security: [{ bearer: [] }],
      paths,
      components: {
        schemas,
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'FEVER_API_TOKEN; only required when the server sets one',
          },
        },
      },
    }),
  );
}

/**
 * The schemas as a client sees them: a request body (and what it refers to) as it may be sent,
 * so a field with a default is optional; a response as it is answered, where that field is always
 * there. A schema both sent and answered must read the same both ways.
 */
function bodyAndResponseSchemas(
  registry: z.core.$ZodRegistry<{ id: string }>,
  bodies: ReadonlySet<string>,
): Record<string, unknown> {
  const render = (io: 'input' | 'output') => {
    const { schemas } = z.toJSONSchema(registry, {
      target: 'draft-2020-12',
      uri: (id) => ref(id),
      unrepresentable: 'any',
      io,
    });
    for (const schema of Object.values(schemas)) {
      delete (schema as Record<string, unknown>).$schema;
      delete (schema as Record<string, unknown>).$id;
    }
    return schemas as Record<string, unknown>;
  };
  const input = render('input');
  const output = render('output');
  const sent = referredFrom(bodies, input);
  const answered = referredFrom(
    Object.keys(output).filter((id) => !bodies.has(id)),
    output,
  );
  const out: Record<string, unknown> = {};
  for (const id of Object.keys(output)) {
    if (!sent.has(id)) {
      out[id] = output[id];
      continue;
    }
    if (answered.has(id) && JSON.stringify(input[id]) !== JSON.stringify(output[id])) {
      throw new Error(`OpenAPI: schema ${id} is both sent and answered, and reads differently in each`);
    }
    out[id] = input[id];
  }
  return out;
}

/** `roots` and every schema they refer to, transitively. */
function referredFrom(roots: Iterable<string>, schemas: Record<string, unknown>): Set<string> {
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const [, target] of JSON.stringify(schemas[id] ?? {}).matchAll(
      /"#\/components\/schemas\/([^"]+)"/g,
    )) {
      visit(target!);
    }
  };
  for (const id of roots) visit(id);
  return seen;
}

function ref(id: string): string {
  return `#/components/schemas/${id}`;
}

function operationId(route: RouteDoc): string {
  const words = route.path
    .split('/')
    .filter(Boolean)
    .map((w) => w.replace(/^:/, 'by-').replace(/[^A-Za-z0-9]+/g, '-'));
  return [route.method, ...words]
    .join('-')
    .split('-')
    .filter(Boolean)
    .map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1)))
    .join('');
}

function paramsOf(schema: z.ZodObject | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const json = z.toJSONSchema(field as z.ZodType, {
      target: 'draft-2020-12',
      unrepresentable: 'any',
      io: 'input',
    }) as Record<string, unknown>;
    delete json.$schema;
    const description = (field as z.ZodType).description ?? (json.description as string | undefined);
    delete json.description;
    return {
      name,
      in: where,
      required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      description,
      schema: json,
    };
  });
}

function responseObject(res: ResponseDoc, id: string | undefined) {
  if (id)
    return { description: res.description, content: { 'application/json': { schema: { $ref: ref(id) } } } };
  if (res.contentType) return { description: res.description, content: { [res.contentType]: {} } };
  return { description: res.description };
}

function errorStatuses(route: RouteDoc): number[] {
  const out: number[] = [];
  if (route.params || route.query || route.body) out.push(400);
  if (route.auth !== false) out.push(401);
  if (route.params) out.push(404);
  if (route.body) out.push(413, 415);
  return out;
}
