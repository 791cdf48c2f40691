import { InputError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { wholeNumberFlag } from '../number-flags.ts';
import { print } from '../terminal.ts';
import { indexingLogger, intFlag } from './indexing-flags.ts';

/** `fever people list|show|rename|cluster`: each calls one PeopleService method. */
export function registerPeople(program: Command, config: () => Config): void {
  const people = program
    .command('people')
    .description("a collection's people: its faces clustered by identity, with names you set");

  /** Runs `fn` with a PeopleService over a runtime opened from the config. */
  const withPeople = async <T>(
    fn: (service: import('@fever/core').PeopleService) => Promise<T>,
  ): Promise<T> => {
    const cfg = config();
    const { openRuntime, PeopleService } = await import('@fever/core');
    const runtime = await openRuntime(cfg, { logger: await indexingLogger(cfg) });
    try {
      return await fn(new PeopleService(runtime));
    } finally {
      await runtime.close();
    }
  };

  people
    .command('cluster')
    .description("cluster a collection's faces into people (re-runnable: ids and names carry over)")
    .requiredOption('--collection <name>', 'the collection')
    .option('--threshold <d>', 'cosine distance under which two faces link (default 0.04)')
    .option('--neighbours <n>', 'nearest faces each face may link to (default 5)')
    .option('--json', 'print the result as JSON')
    .action(
      async (flags: { collection: string; threshold?: string; neighbours?: string; json?: boolean }) => {
        const threshold = flags.threshold === undefined ? undefined : Number(flags.threshold);
        if (threshold !== undefined && !(Number.isFinite(threshold) && threshold >= 0 && threshold <= 2)) {
          throw new InputError(
            'BAD_FLAG',
            `--threshold must be a cosine distance in [0, 2], got '${flags.threshold}'`,
          );
        }
        const neighbours = intFlag('neighbours', flags.neighbours, 1, 100);
        const result = await withPeople((s) =>
          s.cluster(flags.collection, {
            ...(threshold === undefined ? {} : { threshold }),
            ...(neighbours === undefined ? {} : { neighbours }),
          }),
        );
        if (flags.json) return print(JSON.stringify(result, null, 2));
        print(
          `${result.faces} faces of '${result.collection}' in ${result.people} people ` +
            `(${result.kept} kept their id, ${result.created} new, ${result.retired} merged or gone; ` +
            `threshold ${result.threshold}, ${result.neighbours} neighbours, ${result.ms} ms)`,
        );
      },
    );

  people
    .command('list')
    .description("a collection's people, most faces first")
    .requiredOption('--collection <name>', 'the collection')
    .option('--limit <n>', 'people to list (default 50)')
    .option('--offset <n>', 'skip this many first')
    .option('--json', 'print the list as JSON')
    .action(async (flags: { collection: string; limit?: string; offset?: string; json?: boolean }) => {
      const limit = intFlag('limit', flags.limit, 1, 1000);
      const offset = intFlag('offset', flags.offset, 0, Number.MAX_SAFE_INTEGER);
      const page = await withPeople((s) =>
        s.list(flags.collection, {
          ...(limit === undefined ? {} : { limit }),
          ...(offset === undefined ? {} : { offset }),
        }),
      );
      if (flags.json) return print(JSON.stringify(page, null, 2));
      if (page.total === 0) {
        print(`'${page.collection}' has no people yet: fever people cluster --collection ${page.collection}`);
        return;
      }
      print(`${page.total} people in '${page.collection}'`);
      for (const p of page.people) {
        print(
          `  ${String(p.id).padStart(6)}  ${String(p.faceCount).padStart(5)} faces  ${p.name ?? '(no name)'}`,
        );
      }
    });

  people
    .command('show')
    .description('a person and their faces, one row per expression')
    .argument('<id>', 'person id')
    .option('--per-expression <n>', 'faces listed per expression (default 24)')
    .option('--json', 'print the person as JSON')
    .action(async (id: string, flags: { perExpression?: string; json?: boolean }) => {
      const personId = wholeNumberFlag('person id', id, 1, 2_147_483_647);
      const per = intFlag('per-expression', flags.perExpression, 1, 1000);
      const person = await withPeople((s) =>
        s.show(personId, per === undefined ? {} : { perExpression: per }),
      );
      if (flags.json) return print(JSON.stringify(person, null, 2));
      print(
        `person ${person.id} ${person.name ?? '(no name)'} in '${person.collection}': ${person.faceCount} faces`,
      );
      for (const e of person.expressions) {
        print(
          `  ${e.label.padEnd(10)} ${String(e.count).padStart(5)}  ${e.faces.map((f) => f.faceId).join(' ')}`,
        );
      }
    });

  people
    .command('rename')
    .description('name a person (an empty name is refused; --clear removes the name)')
    .argument('<id>', 'person id')
    .argument('[name]', 'the name, 1-200 characters')
    .option('--clear', 'remove the name')
    .action(async (id: string, name: string | undefined, flags: { clear?: boolean }) => {
      const personId = wholeNumberFlag('person id', id, 1, 2_147_483_647);
      if (name === undefined && !flags.clear) {
        throw new InputError('BAD_FLAG', 'give the name, or --clear to remove it');
      }
      const person = await withPeople((s) => s.rename(personId, flags.clear ? null : (name ?? null)));
      print(`person ${person.id} in '${person.collection}' is now ${person.name ?? '(no name)'}`);
    });
}
