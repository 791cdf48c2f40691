export { createLogger, type Logger } from './logger.ts';
export { type ModelContext, openRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
export { type SearchParams, SearchService, selectFaces } from './search.ts';
