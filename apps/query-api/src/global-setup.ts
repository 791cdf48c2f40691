import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { buildFixtureTemplate } from './testing.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A closed, indexed FEVER_DATA_DIR for openFixture({ template }). */
    fixtureTemplate: string;
  }
}

let dir: string | undefined;

/** Builds the sample-photo index once for every test file of this package. */
export async function setup(project: TestProject) {
  dir = await mkdtemp(join(tmpdir(), 'fever-api-template-'));
  await buildFixtureTemplate(dir);
  project.provide('fixtureTemplate', dir);
}

export async function teardown() {
  if (dir) await rm(dir, { recursive: true, force: true });
}
