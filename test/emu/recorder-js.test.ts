// Vitest runs each file in its own process: this one forces the JS backend.
process.env.FAULTLINE_NO_NATIVE = '1';
const { describe } = await import('vitest');
const { recorderCases } = await import('./recorder-cases.ts');

describe('recorder (JavaScript backend)', () => recorderCases(false));
