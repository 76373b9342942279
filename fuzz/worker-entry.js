// The fuzzer's worker thread starts here: TypeScript through tsx's loader, as bin/faultline.js does.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
