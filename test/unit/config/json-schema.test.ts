import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText } from '../../../src/config/json-schema.js';

describe('docs/config.schema.json', () => {
  it('is current (regenerate: npx tsx src/config/generate-schema.ts)', () => {
    const committed = readFileSync(new URL('../../../docs/config.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(configJsonSchemaText());
  });

  it('is strict and names the required pbx.uri', () => {
    const schema = JSON.parse(configJsonSchemaText()) as {
      additionalProperties: boolean;
      required: string[];
      properties: { pbx: { required: string[] } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toContain('pbx');
    expect(schema.properties.pbx.required).toEqual(['uri']);
  });
});
