import { describe } from 'vitest';
import { lacks } from '../helpers/system.ts';
import { recorderCases } from './recorder-cases.ts';

// The native recorder is built with gcc: by npm install, or by npm test's setup when gcc came later.
describe.skipIf(lacks('gcc'))('recorder (native backend)', () => recorderCases(true));
