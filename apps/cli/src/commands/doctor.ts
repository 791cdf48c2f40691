import { InputError } from '@fever/errors';
import type { Command } from 'commander';
import { CHECK_NAMES, type CheckName, type CheckResult, runDoctor } from '../doctor/checks.ts';
import { print } from '../terminal.ts';

interface DoctorFlags {
  only?: string;
  json?: boolean;
  timeout: string;
}

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the configuration, database, Redis, Qdrant, model files and execution provider; ' +
        'say what is wrong and how to fix it (exit code 1 when a check fails)',
    )
    .option('--only <checks>', `comma-separated subset of ${CHECK_NAMES.join(',')}`)
    .option('--timeout <ms>', 'per network check', '5000')
    .option('--json', 'print the report as JSON')
    .action(async (flags: DoctorFlags) => {
      const only = flags.only?.split(',').map((s) => s.trim());
      const unknown = only?.filter((name) => !(CHECK_NAMES as readonly string[]).includes(name)) ?? [];
      if (unknown.length > 0) {
        throw new InputError(
          'BAD_FLAG',
          `--only: unknown check ${unknown.join(', ')} (known: ${CHECK_NAMES.join(', ')})`,
        );
      }
      const timeoutMs = Number(flags.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
        throw new InputError(
          'BAD_FLAG',
          `--timeout must be a positive whole number of ms, got '${flags.timeout}'`,
        );
      }
      // The doctor reads the environment itself: a broken configuration is a finding, not a crash.
      const report = await runDoctor({ only: only as CheckName[] | undefined, timeoutMs });
      if (flags.json) {
        print(JSON.stringify(report, null, 2));
      } else {
        const width = Math.max(...report.checks.map((c) => c.name.length));
        for (const check of report.checks) {
          print(`${LABEL[check.status].padEnd(4)}  ${check.name.padEnd(width)}  ${check.summary}`);
          if (check.fix && check.status !== 'ok') print(`${' '.repeat(width + 8)}fix: ${check.fix}`);
        }
        const warned = report.checks.filter((c) => c.status === 'warn').length;
        print(
          report.failed > 0
            ? `doctor: ${report.failed} of ${report.checks.length} checks failed`
            : `doctor: all checks passed${warned > 0 ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`,
        );
      }
      if (report.failed > 0) process.exitCode = 1;
    });
}
