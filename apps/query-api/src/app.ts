import { join } from 'node:path';
import { createServices, type ServingRuntime } from '@fever/core';
import { FeverError } from '@fever/errors';
import * as api from '@fever/schema';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { matchedRoutes } from 'hono/route';
import { secureHeaders } from 'hono/secure-headers';
import { bearerAuth } from './auth.ts';
import type { ApiContext, AppEnv, AppOptions } from './context.ts';
import { notFound, onError } from './errors.ts';
import { allowedHostNames, hostCheck } from './hosts.ts';
import { ApiMetrics } from './metrics.ts';
import { type NamedSchemas, openApiDocument, type RouteDoc, type Router } from './openapi.ts';
import { collectionRoutes } from './routes/collections.ts';
import { evalRoutes } from './routes/eval.ts';
import { faceRoutes } from './routes/faces.ts';
import { healthRoutes } from './routes/health.ts';
import { imageRoutes } from './routes/images.ts';
import { PAGE_PATHS, pageRoutes } from './routes/page.ts';
import { peopleRoutes } from './routes/people.ts';
import { runRoutes } from './routes/runs.ts';
import { searchRoutes } from './routes/search.ts';
import { DerivedImageCache } from './thumbnails.ts';

export type FeverApp = Hono<AppEnv> & { context: ApiContext };

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', ...PAGE_PATHS]);

/** Schemas listed by name in the OpenAPI document. */
const NAMED: NamedSchemas = {
  FaceResult: api.faceResultSchema,
  QueryFace: api.queryFaceResultSchema,
  Face: api.faceResponseSchema,
  Box: api.boxSchema,
  SearchFilter: api.searchFilterSchema,
  SearchResponse: api.searchResponseSchema,
  SimilarFacesResponse: api.similarFacesResponseSchema,
  VectorSearchRequest: api.vectorSearchRequestSchema,
  VectorSearchResponse: api.vectorSearchResponseSchema,
  Collection: api.collectionResponseSchema,
  CollectionList: api.collectionListResponseSchema,
  CollectionDetail: api.collectionDetailResponseSchema,
  CreateCollectionRequest: api.createCollectionRequestSchema,
  DeletedCollection: api.deleteCollectionResponseSchema,
  Image: api.imageResponseSchema,
  Model: api.modelResponseSchema,
  ModelList: api.modelListResponseSchema,
  StartIndexRunRequest: api.startIndexRunRequestSchema,
  IndexRun: api.indexRunResponseSchema,
  IndexRunList: api.indexRunListResponseSchema,
  EvalRun: api.evalRunResponseSchema,
  EvalRunList: api.evalRunListResponseSchema,
  Health: api.healthResponseSchema,
  Readiness: api.readyResponseSchema,
  ErrorResponse: api.errorResponseSchema,
  Person: api.personSummarySchema,
  PersonList: api.personListResponseSchema,
  PersonDetail: api.personDetailResponseSchema,
  RenamePersonRequest: api.renamePersonRequestSchema,
  ClusterPeopleRequest: api.clusterPeopleRequestSchema,
  Clustering: api.clusteringResponseSchema,
};

/**
 * The query API and its page as one Hono app over an open runtime. The caller owns the runtime
 * (and closes it); `startServer` puts the app on a port.
 */
export function createApp(runtime: ServingRuntime, options: AppOptions = {}): FeverApp {
  const { config } = runtime;
  const indexRoots = options.indexRoots ?? config.indexRoots;
  const ctx: ApiContext = {
    runtime,
    services: createServices(runtime, {
      roots: indexRoots,
      ...(options.startIndexRun ? { startIndexRun: options.startIndexRun } : {}),
    }),
    metrics: new ApiMetrics({ indexing: runtime.metrics }),
    thumbnails: new DerivedImageCache(options.cacheDir ?? join(config.dataDir, 'cache')),
    options: {
      apiToken: 'apiToken' in options ? options.apiToken : config.apiToken,
      corsOrigins: options.corsOrigins ?? config.corsOrigins,
      maxUploadBytes: options.maxUploadBytes ?? config.maxUploadBytes,
      indexRoots,
      allowedHosts: options.allowedHosts ?? allowedHostNames(config.host, config.allowedHosts),
    },
  };
  if (options.warm) {
    runtime.serving
      .use(async ({ encoder }) => encoder())
      .catch((err: unknown) => runtime.logger.error({ err }, 'model failed to load'));
  }

  const app = new Hono<AppEnv>() as FeverApp;
  app.context = ctx;

  // Request id (an incoming X-Request-Id is kept when sane) and one structured log line per request.
  app.use(requestId({ headerName: 'X-Request-Id' }));
  app.use(async (c, next) => {
    const start = performance.now();
    const log = runtime.logger.child({ reqId: c.get('requestId') });
    c.set('log', log);
    await next();
    const seconds = (performance.now() - start) / 1000;
    const route = routeLabel(c);
    ctx.metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        route,
        status: c.res.status,
        ms: Math.round(seconds * 10000) / 10,
      },
      'request',
    );
  });
  // Before anything else answers: the health checks answer to any name (probes use addresses).
  app.use(hostCheck(ctx.options.allowedHosts, (path) => path === '/healthz' || path === '/readyz'));
  app.use(
    secureHeaders({
      // Other origins may embed crops and previews once CORS lets them call the API.
      crossOriginResourcePolicy: ctx.options.corsOrigins.length > 0 ? false : 'same-origin',
      strictTransportSecurity: false,
    }),
  );
  if (ctx.options.corsOrigins.length > 0) {
    const origins = ctx.options.corsOrigins;
    app.use(
      cors({
        origin: origins.includes('*') ? '*' : origins,
        allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
        exposeHeaders: ['X-Request-Id'],
        maxAge: 600,
      }),
    );
  }
  const limitBody = bodyLimit({
    maxSize: ctx.options.maxUploadBytes,
    onError: () => {
      throw new FeverError(
        'PAYLOAD_TOO_LARGE',
        `the body is over the upload limit of ${ctx.options.maxUploadBytes} bytes (FEVER_MAX_UPLOAD_BYTES)`,
        { status: 413 },
      );
    },
  });
  // No GET or HEAD route reads a body. Skipping them matters: the limit's check of `req.body`
  // makes @hono/node-server build a full fetch Request (and AbortController) for every request,
  // ~0.1 ms each, a tenth of a by-id search.
  app.use((c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));
  if (ctx.options.apiToken) app.use(bearerAuth(ctx.options.apiToken, (path) => PUBLIC_PATHS.has(path)));

  const routers: Router[] = [
    pageRoutes(),
    healthRoutes(ctx),
    searchRoutes(ctx),
    faceRoutes(ctx),
    collectionRoutes(ctx),
    imageRoutes(ctx),
    runRoutes(ctx),
    evalRoutes(ctx),
    peopleRoutes(ctx),
  ];
  for (const router of routers) app.route(router.prefix || '/', router.app);

  const docs: RouteDoc[] = [
    ...routers.flatMap((r) => r.docs),
    {
      method: 'get',
      path: '/openapi.json',
      tag: 'page',
      summary: 'This OpenAPI document',
      responses: { 200: { description: 'OpenAPI 3.1', contentType: 'application/json' } },
    },
  ];
  let document: Record<string, unknown> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= openApiDocument(docs, NAMED, {
      title: 'fever query API',
      version: '0.1.0',
      description:
        'Search faces by facial expression: by an example photo, an indexed face or a vector. Every error ' +
        'is `{"error": {"code", "message"}}` with a stable code. When the server sets FEVER_API_TOKEN, every ' +
        'route but /healthz, /readyz and the page needs `Authorization: Bearer <token>`. Every route but ' +
        '/healthz and /readyz answers only to the host names it is configured for (421 HOST_NOT_ALLOWED).',
    });
    return c.json(document);
  });

  app.onError(onError);
  app.notFound(notFound(docs));
  return app;
}

/** The route pattern that answered (bounded label values), or `unmatched`. */
function routeLabel(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}
