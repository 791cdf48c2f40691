import { isFeverError } from '@fever/errors';
import { type Config, parseConfig } from '@fever/schema';
import { Command, CommanderError } from 'commander';
import { registerEmbed } from './commands/embed.ts';

const program = new Command('fever')
  .description('search faces by facial expression')
  .showHelpAfterError()
  .exitOverride();

// Env config is validated once, on first use, so `fever --help` works with a broken env.
let config: Config | undefined;
const getConfig = () => {
  config ??= parseConfig();
  return config;
};

registerEmbed(program, getConfig);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isFeverError(err)) {
    console.error(`fever: ${err.message} [${err.code}]`);
    process.exitCode = 1;
  } else {
    console.error('fever: unexpected error:', err);
    process.exitCode = 1;
  }
}
