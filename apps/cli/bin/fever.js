#!/usr/bin/env node
// fever's sources are TypeScript run as they are (no build step): register tsx, then start.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
