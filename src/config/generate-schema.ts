// Writes docs/config.schema.json: `npx tsx src/config/generate-schema.ts`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchemaText } from './json-schema.js';

const out = fileURLToPath(new URL('../../docs/config.schema.json', import.meta.url));
writeFileSync(out, configJsonSchemaText());
process.stdout.write(`wrote ${out}\n`);
