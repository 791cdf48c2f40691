import { fileURLToPath } from 'node:url';

/** Absolute path of the committed drizzle-kit migrations (repo-root /migrations). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/', import.meta.url));
