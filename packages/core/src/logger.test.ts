import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatLogLine } from './logger.ts';

const LOGGER = fileURLToPath(new URL('./logger.ts', import.meta.url));

/** What a process that logs one info line writes on stderr, with stderr piped or on a terminal. */
function logOnce(env: Record<string, string>, terminal: boolean): string {
  const format = env.FEVER_LOG_FORMAT ?? 'auto';
  const script = [
    `const { createLogger } = await import(${JSON.stringify(LOGGER)});`,
    `createLogger({ logLevel: 'info', logFormat: ${JSON.stringify(format)} }).info({ images: 3, source: '/a b' }, 'run started');`,
  ].join('\n');
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  // `script` gives the child a pseudo-terminal (stderr included) and copies what it writes.
  const quoted = node.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const result = terminal
    ? spawnSync('script', ['-qec', quoted, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      })
    : spawnSync(node[0]!, node.slice(1), { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(result.status, result.stderr).toBe(0);
  return terminal ? result.stdout : result.stderr;
}

describe('log lines', () => {
  it('are JSON when stderr is piped, readable lines on a terminal', () => {
    const piped = logOnce({}, false).trim();
    expect(JSON.parse(piped)).toMatchObject({ level: 30, msg: 'run started', images: 3, source: '/a b' });

    const coloured = logOnce({}, true).replaceAll('\u001b[', 'ESC[');
    expect(coloured).toContain('ESC[32mINFO');
    const tty = coloured.replace(/ESC\[[0-9;]*m/g, '');
    expect(tty).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}run started {2}images=3 source="\/a b"\r?\n$/);
  });

  it('follow FEVER_LOG_FORMAT over the terminal check', () => {
    expect(JSON.parse(logOnce({ FEVER_LOG_FORMAT: 'json' }, true).trim())).toMatchObject({
      msg: 'run started',
    });
    expect(logOnce({ FEVER_LOG_FORMAT: 'pretty' }, false)).toMatch(/INFO {2}run started {2}images=3/);
  });

  it('show control characters escaped and an error with its stack', () => {
    const err = new Error('bad \u001b[31m file');
    const line = formatLogLine({
      level: 50,
      time: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
      msg: 'cannot read /x/\u001b]0;pwned\u0007.jpg',
      pid: 1,
      service: 'fever',
      err: { type: 'Error', message: err.message, stack: err.stack },
      uri: 'a\u009bb',
    });
    const controls = [...line].filter((c) => c !== '\n' && (c < ' ' || (c >= '\u007f' && c <= '\u009f')));
    expect(controls).toEqual([]);
    expect(line).toContain('ERROR cannot read /x/\\u001b]0;pwned\\u0007.jpg');
    expect(line).toContain('err="bad \\u001b[31m file"');
    expect(line).toContain('uri=a\\u009bb');
    expect(line).not.toContain('pid=');
    expect(line.split('\n')[1]).toMatch(/^ {4}Error: bad/);
  });
});
