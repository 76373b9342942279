#!/usr/bin/env node
// faultline's entry point: the built JavaScript (dist/) when it was built from the sources as they are now,
// otherwise the TypeScript sources through tsx's loader (slower to start, never stale); see bin/dist-fresh.js.
import { distIsFresh } from './dist-fresh.js';

let main;
if (!process.env.FAULTLINE_FROM_SOURCE && distIsFresh()) {
  ({ main } = await import('../dist/src/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
