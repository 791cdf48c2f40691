import { isFeverError } from '@fever/errors';
import { type Config, parseConfig } from '@fever/schema';
import { Command, CommanderError } from 'commander';
import { registerDoctor } from './commands/doctor.ts';
import { registerEmbed } from './commands/embed.ts';
import { registerEval } from './commands/eval.ts';
import { registerIndex } from './commands/index-run.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerPeople } from './commands/people.ts';
import { registerRuns } from './commands/runs.ts';
import { registerSearch } from './commands/search.ts';
import { registerServe } from './commands/serve.ts';
import { registerTrain } from './commands/train.ts';
import { registerWorker } from './commands/worker.ts';
import { printError } from './terminal.ts';

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
registerEval(program, getConfig);
registerIndex(program, getConfig);
registerSearch(program, getConfig);
registerServe(program, getConfig);
registerRuns(program, getConfig);
registerPeople(program, getConfig);
registerTrain(program, getConfig);
registerWorker(program, getConfig);
registerMigrate(program, getConfig);
registerDoctor(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isFeverError(err)) {
    printError(`fever: ${err.message} [${err.code}]`);
    process.exitCode = 1;
  } else {
    printError('fever: unexpected error:', err);
    process.exitCode = 1;
  }
}
