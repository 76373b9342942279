import { describe } from 'vitest';
import { recorderCases } from './recorder-cases.ts';

describe('recorder (native backend)', () => recorderCases(true));
