import { describe, expect, it } from 'vitest';
import { envSchema } from './config.ts';
import {
  CONFIG_END,
  CONFIG_START,
  configReference,
  renderConfigReference,
  replaceConfigBlock,
} from './config-reference.ts';

describe('configReference', () => {
  const byName = new Map(configReference().map((o) => [o.name, o]));

  it('lists every variable of the schema, each described', () => {
    expect([...byName.keys()]).toEqual(Object.keys(envSchema.shape));
    for (const option of byName.values()) expect(option.description, option.name).toBeTruthy();
  });

  it('reads defaults, accepted values and secrecy from the schema itself', () => {
    expect(byName.get('FEVER_DEVICE')).toMatchObject({ default: 'auto', accepts: '`auto`, `cpu`, `cuda`' });
    expect(byName.get('FEVER_PORT')).toMatchObject({ default: '8080', accepts: 'integer 0–65535' });
    expect(byName.get('DATABASE_URL')).toMatchObject({
      default: undefined,
      accepts: '`postgres://…` or `postgresql://…` URL',
      secret: true,
    });
    expect(byName.get('FEVER_DATA_DIR')).toMatchObject({ default: '.fever', accepts: 'path', secret: false });
  });
});

describe('renderConfigReference', () => {
  it('renders one table row per variable and escapes pipes', () => {
    const md = renderConfigReference([
      { name: 'A_VAR', description: 'one | two', default: '1', accepts: 'x', secret: true },
      { name: 'B_VAR', description: undefined, default: undefined, accepts: 'y', secret: false },
    ]);
    expect(md).toContain('| `A_VAR` | `1` | x; secret (masked in logs) | one \\| two |');
    expect(md).toContain('| `B_VAR` | unset | y | (undocumented) |');
  });
});

describe('replaceConfigBlock', () => {
  it('rewrites only what lies between the markers', () => {
    const doc = `# t\n\nbefore\n${CONFIG_START}\nold\n${CONFIG_END}\nafter\n`;
    expect(replaceConfigBlock(doc, 'new\n')).toBe(
      `# t\n\nbefore\n${CONFIG_START}\nnew\n${CONFIG_END}\nafter\n`,
    );
    const once = replaceConfigBlock(doc);
    expect(replaceConfigBlock(once)).toBe(once);
  });

  it('refuses a document without the markers', () => {
    expect(() => replaceConfigBlock('# no markers\n')).toThrow(/markers/);
    expect(() => replaceConfigBlock(`${CONFIG_END}\n${CONFIG_START}\n`)).toThrow(/out of order/);
  });
});
