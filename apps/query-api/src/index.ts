/**
 * @fever/query-api: the HTTP API (Hono) and the search page, over a fever runtime.
 * `createApp(runtime)` for tests and embedding (`app.request(...)`); `startServer` to listen;
 * `serve(config)` is `fever serve`.
 */
export { createApp, type FeverApp } from './app.ts';
export type { ApiContext, AppEnv, AppOptions } from './context.ts';
export { type RunningServer, serve, startServer } from './server.ts';
