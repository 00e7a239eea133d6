#!/usr/bin/env node
// `probe`: the one binary. Each command lives in its own module that imports
// only commander types at load time; heavy modules (sip/, rtp/, prom-client)
// are imported inside the action. program.ts loads only the module of the
// command being run, so `probe --help` and one-shot commands stay fast
// (budget: node -e 0 + 60 ms; see docs/decisions.md).
import { withLazyChildProcess } from './lazy-child-process.js';

const { programFor } = await withLazyChildProcess(() => import('./program.js'));
const program = await programFor(process.argv);
await program.parseAsync(process.argv);
