import { InputError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { printError } from '../terminal.ts';

interface ServeFlags {
  host?: string;
  port?: string;
}

export function registerServe(program: Command, config: () => Config): void {
  program
    .command('serve')
    .description('run the query API and the search page (until SIGTERM or Ctrl-C)')
    .option('--host <host>', 'address to listen on (default: FEVER_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 for any free one (default: FEVER_PORT or 8080)')
    .action(async (flags: ServeFlags) => {
      const cfg = { ...config() };
      if (flags.host !== undefined) cfg.host = flags.host;
      if (flags.port !== undefined) {
        const port = Number(flags.port);
        if (!/^\d+$/.test(flags.port) || port > 65535) {
          throw new InputError(
            'BAD_FLAG',
            `--port must be a whole number from 0 to 65535, got '${flags.port}'`,
          );
        }
        cfg.port = port;
      }
      // Loaded here so other commands never pay for the HTTP stack.
      const { serve } = await import('@fever/query-api');
      const running = await serve(cfg);
      printError(
        `fever: serving on ${running.url} (the page at ${running.url}/, the API reference at ${running.url}/docs)`,
      );
    });
}
