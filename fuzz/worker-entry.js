// The fuzzer's worker threads start here: TypeScript through tsx's loader (the fuzzer runs the sources,
// never dist/), then the module workerData names (worker.ts by default).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData?.module ?? './worker.ts');
