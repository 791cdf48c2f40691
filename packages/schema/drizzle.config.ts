import { defineConfig } from 'drizzle-kit';

// Migrations live at the repo root (shared by every driver and app), generated from the tables.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/tables.ts',
  out: '../../migrations',
});
