import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { print } from '../terminal.ts';

export function registerMigrate(program: Command, config: () => Config): void {
  program
    .command('migrate')
    .description(
      'apply pending metadata migrations to DATABASE_URL (or the embedded database) and exit; ' +
        'fever serve and fever worker also migrate when they start',
    )
    .action(async () => {
      const { metadataOptionsFromConfig, migrateMetadata } = await import('@fever/metadata');
      const options = metadataOptionsFromConfig(config());
      const where =
        options.driver === 'postgres'
          ? `Postgres at ${hostOf(options.url)}`
          : `the embedded database in ${options.dataDir}`;
      const { applied, status } = await migrateMetadata(options);
      const latest = status.shipped.at(-1)?.tag ?? 'none';
      if (status.newerThanCode) {
        print(`${where} was migrated by a newer fever: it has migrations this one does not ship`);
      } else if (applied.length === 0) {
        print(`${where} is up to date (${status.shipped.length} migrations, latest ${latest})`);
      } else {
        print(`${where}: applied ${applied.length} migration(s): ${applied.join(', ')}`);
      }
    });
}

function hostOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}
