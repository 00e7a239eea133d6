// JSON Schema for editors and other tools, generated from the zod schema so
// the two can never disagree (test/unit/config/json-schema.test.ts checks the
// committed docs/config.schema.json is current).
import * as z from 'zod';
import { buildConfigSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(buildConfigSchema(null), { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://callprobe.dev/config.schema.json',
    title: 'callprobe configuration (callprobe.yaml)',
    description:
      'Generated from src/config/schema.ts by `npx tsx src/config/generate-schema.ts`. ' +
      'Secrets: literal, "env:NAME" or "file:/path" (relative names: $CREDENTIALS_DIRECTORY). Durations: "60s", "2m".',
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
