#!/usr/bin/env node
// The indexing worker (what docker-compose's indexer service runs): TypeScript run as it is.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
