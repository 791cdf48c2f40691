import type { Services, ServingRuntime, StartIndexRun } from '@fever/core';
import type { Logger } from 'pino';
import type { ApiMetrics } from './metrics.ts';
import type { DerivedImageCache } from './thumbnails.ts';

/** What every handler can read from the context (`c.get('log')`). */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** The runtime logger with this request's id bound. */
    log: Logger;
  };
}

export interface AppOptions {
  /** Bearer token every route but the health checks and the page shell requires; default FEVER_API_TOKEN. */
  apiToken?: string | undefined;
  /** Default FEVER_CORS_ORIGINS. */
  corsOrigins?: string[];
  /** Default FEVER_MAX_UPLOAD_BYTES. */
  maxUploadBytes?: number;
  /** Default FEVER_INDEX_ROOTS. */
  indexRoots?: string[];
  /** Host names the Host header may name ('*': any); default localhost, FEVER_HOST and FEVER_ALLOWED_HOSTS. */
  allowedHosts?: string[];
  /** Where face crops and previews are cached; default `<FEVER_DATA_DIR>/cache`. */
  cacheDir?: string;
  /** Default: @fever/core's startIndexRun (in-process, or BullMQ with REDIS_URL). */
  startIndexRun?: StartIndexRun;
  /** Start loading the encoder now rather than on the first search. Default false. */
  warm?: boolean;
}

/** Everything the route modules share. */
export interface ApiContext {
  runtime: ServingRuntime;
  /** The use cases the routes call (@fever/core's services). */
  services: Services;
  metrics: ApiMetrics;
  /** Face crops and previews, cached. */
  thumbnails: DerivedImageCache;
  options: Required<Omit<AppOptions, 'apiToken' | 'startIndexRun' | 'warm' | 'cacheDir'>> & {
    apiToken: string | undefined;
  };
}
