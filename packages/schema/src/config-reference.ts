/**
 * The configuration reference, read from envSchema itself (descriptions, defaults, accepted
 * values), so the README table cannot drift from what parseConfig() accepts.
 * `npm run docs:config` writes renderConfigReference() between the README's
 * `<!-- config:start -->` and `<!-- config:end -->` markers; a test fails when they differ.
 */
import { z } from 'zod';
import { configFormats, envSchema, SECRET_VARS } from './config.ts';

export interface ConfigOption {
  name: string;
  /** From `.describe()`; undefined only for a variable someone forgot to describe. */
  description: string | undefined;
  /** The default as the environment would spell it; undefined when unset means "off"/"embedded". */
  default: string | undefined;
  /** What the variable accepts, in words (markdown). */
  accepts: string;
  /** Carries credentials: masked in logs and never echoed in errors. */
  secret: boolean;
}

export const CONFIG_START = '<!-- config:start -->';
export const CONFIG_END = '<!-- config:end -->';

export function configReference(): ConfigOption[] {
  return Object.entries(envSchema.shape).map(([name, schema]) => {
    const info = inspect(schema as z.ZodType);
    return {
      name,
      description: (schema as z.ZodType).description,
      default: info.default,
      accepts: info.accepts ?? 'text',
      secret: SECRET_VARS.has(name),
    };
  });
}

/** Walks the wrappers (default, optional, pipe) down to the helper schema that knows its format. */
function inspect(schema: z.ZodType): { default: string | undefined; accepts: string | undefined } {
  let value: unknown;
  let accepts: string | undefined;
  let s: z.ZodType | undefined = schema;
  for (let depth = 0; s && depth < 20; depth++) {
    accepts ??= configFormats.get(s)?.format;
    if (s instanceof z.ZodDefault) {
      value ??= s.def.defaultValue;
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      s = s.in as z.ZodType;
    } else if (s instanceof z.ZodEnum) {
      accepts ??= s.options.map((o) => `\`${String(o)}\``).join(', ');
      s = undefined;
    } else {
      s = undefined;
    }
  }
  // An empty default (lists) reads as "unset" to a user: the description says what that means.
  const shown = value === undefined || value === '' ? undefined : String(value);
  return { default: shown, accepts };
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The markdown between the README markers (markers excluded), ending in a newline. */
export function renderConfigReference(options: ConfigOption[] = configReference()): string {
  const rows = options.map((o) => {
    const accepts = o.secret ? `${o.accepts}; secret (masked in logs)` : o.accepts;
    const def = o.default === undefined ? 'unset' : `\`${o.default}\``;
    return `| \`${o.name}\` | ${cell(def)} | ${cell(accepts)} | ${cell(o.description ?? '(undocumented)')} |`;
  });
  return [
    '<!-- generated from packages/schema/src/config.ts by `npm run docs:config`: edit the schema, not this table -->',
    '',
    '| variable | default | accepts | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/**
 * Replaces what lies between the markers in `markdown`. Throws when the markers are missing or
 * out of order, so a README edit that loses them is noticed.
 */
export function replaceConfigBlock(markdown: string, block: string = renderConfigReference()): string {
  const start = markdown.indexOf(CONFIG_START);
  const end = markdown.indexOf(CONFIG_END);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`the markers ${CONFIG_START} … ${CONFIG_END} are missing or out of order`);
  }
  return `${markdown.slice(0, start + CONFIG_START.length)}\n${block}${markdown.slice(end)}`;
}
