/**
 * The fault lab's fixed-seed sample, judged inside `npm test`: real crashes
 * on all three architectures, every fault model and a share of genuine bugs,
 * in every format. Its floor is the accuracy `explain` had when the floor was
 * set, so a change that makes `explain` worse on crashes it was not tuned for
 * fails here; a software bug called hardware always fails.
 *
 * Raise FLOOR when `explain` gets better (never lower it to make a change
 * pass). The sample takes a few minutes on two cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAULT_MODELS } from '../../lab/plan.ts';
import { formatReport } from '../../lab/report.ts';
import { runLab } from '../../lab/run.ts';
import { LAB_ARCHES, toolchainFor, type Toolchain } from '../../lab/toolchain.ts';
import { lacks } from '../helpers/system.ts';

const SEED = 1;
const CASES = 40;
/** Right verdicts (of every format) out of all judged, when the floor was last raised. */
const FLOOR = 0.62;

const toolchains: Record<string, Toolchain> = {};
for (const arch of LAB_ARCHES) {
  const toolchain = toolchainFor(arch);
  if (!('missing' in toolchain)) toolchains[arch] = toolchain;
}
const missing = Object.keys(toolchains).length < LAB_ARCHES.length || lacks('gdb') || lacks('gdb-multiarch') || lacks('qemu-user');

describe.skipIf(missing)('the fault lab, fixed-seed sample', () => {
  const out = mkdtempSync(join(tmpdir(), 'faultline-lab-sample-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it(`${CASES} verified crashes: no software bug called hardware, accuracy at or above the floor`, async () => {
    const { report, labels } = await runLab({ out, cases: CASES, seed: SEED, arches: [...LAB_ARCHES], toolchains, jobs: 2, searchReplays: 1500, searchSeconds: 60 });
    const table = formatReport(report);
    expect(report.cases, table).toBe(CASES);
    expect(new Set(labels.map((l) => l.arch)), table).toEqual(new Set(LAB_ARCHES));
    expect(new Set(labels.flatMap((l) => (l.model ? [l.model] : []))), table).toEqual(new Set(FAULT_MODELS));
    expect(labels.some((l) => l.class === 'software'), table).toBe(true);
    expect(report.falseHardware, table).toBe(0);
    expect(report.rightRate, table).toBeGreaterThanOrEqual(FLOOR);
  }, 60 * 60 * 1000);
});
