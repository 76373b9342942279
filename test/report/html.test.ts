/**
 * The HTML report in a real browser: the bundled IPI demo and the core of a
 * program crashed here with a flipped call target, rendered with
 * `explain --html` and `report --html`, opened in headless Chromium (the
 * Debian package, driven by playwright-core): no console errors, no
 * request, the verdict and the flipped bit visible, and the page's text
 * equal to the `--json` values. Also the drcov and Tenet files beside it,
 * read back by readers written from their format documents, and bad
 * reports: one line, exit code 2, nothing written.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { runCli } from '../cli/run-cli.ts';
import { makeCrashCore } from '../helpers/crash-programs.ts';
import { lacks, toolchainMissing } from '../helpers/system.ts';
import { readDrcov } from './drcov-reader.ts';

const hasPlaywright = (() => {
  try {
    createRequire(import.meta.url).resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
})();
if (!hasPlaywright) process.stderr.write('faultline: playwright-core is not installed (npm install): the browser tests of the HTML report are skipped\n');
const noBrowser = lacks('chromium') || !hasPlaywright;

let dir: string;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-report-'));
  if (!noBrowser) {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  }
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  errors: string[];
  requests: string[];
}

/** Opens `file` in a fresh page; console errors, page errors and requests other than the file itself are collected. */
async function open(file: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Opened> {
  const page = await browser!.newPage({ viewport: { width: 1200, height: 900 }, colorScheme, javaScriptEnabled: false });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => r.url() !== `file://${file}` && requests.push(r.url()));
  await page.goto(`file://${file}`);
  return { page, errors, requests };
}

const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

async function explainToHtml(args: string[], name: string): Promise<{ json: any; html: string }> {
  const html = join(dir, `${name}.html`);
  const run = await runCli(...args, '--html', html, '--json');
  expect(run.code, run.err).toBe(0);
  expect(run.err).toContain(`wrote ${join(dir, `${name}.tenet.log`)}, ${join(dir, `${name}.drcov`)}, ${html}`);
  return { json: JSON.parse(run.out), html };
}

/** The checks every rendered report must pass, against its own --json. */
async function checkPage(file: string, json: any): Promise<Page> {
  const { page, errors, requests } = await open(file);
  const v = json.verdict;
  await expect(page.locator('#verdict-class').isVisible()).resolves.toBe(true);
  expect(await text(page, '#verdict-class')).toBe(v.class);
  expect(await text(page, '#verdict-bit')).toBe(String(v.bit));
  expect(await text(page, '#verdict-confidence')).toBe(String(v.confidence));
  expect(await text(page, '#verdict-confidence-label')).toBe(v.confidenceLabel);
  expect(await text(page, '#verdict-hypothesis')).toBe(v.hypothesis);
  // The flipped bit: visible, marked, and the one the verdict names, with the expected and observed values as --json says.
  const flipped = page.locator('#flipped-bit');
  await expect(flipped.isVisible()).resolves.toBe(true);
  expect(await flipped.getAttribute('title')).toBe(`bit ${v.bit}`);
  expect(await text(page, '#strip-bit')).toBe(String(v.bit));
  const bitOf = (hex: string) => String((BigInt(hex) >> BigInt(v.bit)) & 1n);
  expect(await flipped.innerText()).toBe(bitOf(v.observed));
  expect(await text(page, '#flipped-bit-expected')).toBe(bitOf(v.expected));
  expect(bitOf(v.observed)).not.toBe(bitOf(v.expected));
  const background = (selector: string) => page.locator(selector).first().evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(await background('#flipped-bit')).not.toBe(await background('table.bits td:not(.flipped)'));
  expect(BigInt(`0x${(await text(page, '#strip-expected')).replace(/`/g, '')}`)).toBe(BigInt(v.expected));
  expect(BigInt(`0x${(await text(page, '#strip-observed')).replace(/`/g, '')}`)).toBe(BigInt(v.observed));
  // Both are inside the screenshot: their boxes lie within the page the screenshot covers.
  const shot = await page.screenshot({ fullPage: true });
  expect(shot.length).toBeGreaterThan(10_000);
  const size = await page.evaluate(() => ({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight }));
  for (const selector of ['#verdict-class', '#flipped-bit']) {
    const box = (await page.locator(selector).boundingBox())!;
    expect(box.width).toBeGreaterThan(0);
    expect(box.x + box.width).toBeLessThanOrEqual(size.width);
    expect(box.y + box.height).toBeLessThanOrEqual(size.height);
  }
  // The hypotheses in order with their scores; the checks with their statuses; the trace steps with their addresses.
  const ids = await page.locator('#hypotheses td.hypothesis-id').allInnerTexts();
  const scores = await page.locator('#hypotheses td.score').allInnerTexts();
  expect(ids).toEqual(json.hypotheses.map((h: any) => h.id));
  expect(scores).toEqual(json.hypotheses.map((h: any) => String(h.score)));
  const statuses = await page.locator('#checks tr td:nth-child(4)').allInnerTexts();
  expect(statuses.map((s) => s.replace(/^\W+/, '').replace(' (carried)', ''))).toEqual(json.checks.map((c: any) => c.status));
  const steps = await page.locator('#trace tr[data-step]').count();
  expect(steps).toBe(json.trace.steps.length);
  expect(steps).toBeGreaterThan(0);
  expect(errors).toEqual([]);
  expect(requests).toEqual([]);
  return page;
}

describe.skipIf(noBrowser)('the HTML report in Chromium', () => {
  it('the IPI demo: verdict, flipped bit, trace and scores as --json says; the saved JSON renders the same page', async () => {
    const { json, html } = await explainToHtml(['demo'], 'demo');
    expect(json.verdict).toMatchObject({ class: 'cpu-fault', bit: 2, hypothesis: 'bitflip:target@80a5d8f6:2' });
    const page = await checkPage(html, json);
    // The transfer's row: the call that read 8082e3e4 and landed, with bit 2 flipped, on 8082e3e0.
    const injected = await page.locator('#trace tr.injected').allInnerTexts();
    expect(injected.join('\n')).toContain('fault injected: bit 2 of the target of 80a5d8f6');
    expect(injected.join('\n')).toContain('8082e3e4 → 8082e3e0');
    expect(await page.locator('#trace tr.end').innerText()).toContain('trap');
    await page.close();

    // `report` on the saved --json: the same page, except the links name its own files.
    const saved = join(dir, 'demo.json');
    writeFileSync(saved, JSON.stringify(json));
    const again = join(dir, 'again.html');
    const run = await runCli('report', saved, '--html', again);
    expect(run.code, run.err).toBe(0);
    expect(readFileSync(again, 'utf8').replaceAll('again.', 'demo.')).toBe(readFileSync(html, 'utf8'));
    await (await checkPage(again, json)).close();
  });

  it('dark and light follow the system setting', async () => {
    const html = join(dir, 'demo.html');
    if (!existsSync(html)) await explainToHtml(['demo'], 'demo');
    const luminance = async (scheme: 'light' | 'dark') => {
      const { page } = await open(html, scheme);
      const color = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.close();
      const [r, g, b] = color.match(/\d+/g)!.map(Number);
      return r! + g! + b!;
    };
    expect(await luminance('light')).toBeGreaterThan(600);
    expect(await luminance('dark')).toBeLessThan(150);
  });

  it.skipIf(toolchainMissing('x64').length > 0)('a real core: a call target flipped under gdb', async () => {
    const { core, binary } = await makeCrashCore('x64', 'cpu-target', dir);
    const { json, html } = await explainToHtml(['explain', core, '--binary', binary, '--sysroot', '/'], 'core');
    expect(json.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 2 });
    const page = await checkPage(html, json);
    expect(await page.locator('#trace').innerText()).toContain('callsite');
    await page.close();
    // The drcov file covers the replay's code in the program's module.
    const drcov = readDrcov(readFileSync(join(dir, 'core.drcov')));
    const module = drcov.modules.find((m) => m.path.endsWith('crash-x64'));
    expect(module).toBeDefined();
    expect(drcov.blocks.some((b) => b.module === module!.id)).toBe(true);
  });

  it('dump text is escaped: a hostile symbol stays text, and nothing runs or loads', async () => {
    const { json } = await explainToHtml(['demo'], 'hostile-source');
    const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>"\'&';
    json.dump.path = evil;
    json.candidates[0].instruction.symbol = evil;
    json.verdict.reasons.push(evil);
    const saved = join(dir, 'hostile.json');
    writeFileSync(saved, JSON.stringify(json));
    const html = join(dir, 'hostile.html');
    expect((await runCli('report', saved, '--html', html)).code).toBe(0);
    const { page, errors, requests } = await open(html);
    expect(await page.locator('script, img').count()).toBe(0);
    expect(await text(page, '#dump-path')).toBe(evil);
    expect(await page.locator('#candidates').innerText()).toContain(evil);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });
});

describe('faultline report: bad input', () => {
  const cases: Array<[name: string, content: string, error: RegExp]> = [
    ['not JSON', '{"schema": ', /: not JSON \(/],
    ['another schema', JSON.stringify({ schema: 'faultline/explain/1' }), /: dump: missing$/],
    ['a field of the wrong type', '', /: verdict\.confidence: expected a number, found a string$/],
    ['a bad status', '', /: checks: status "maybe" is not match, mismatch or unknown$/],
  ];
  let demo: any;
  beforeAll(async () => {
    demo = JSON.parse((await runCli('demo', '--json')).out);
  });
  for (const [name, content, error] of cases) {
    it(`${name}: one line, exit code 2, no file written`, async () => {
      let body = content;
      if (name === 'a field of the wrong type') body = JSON.stringify({ ...demo, verdict: { ...demo.verdict, confidence: 'high' } });
      if (name === 'a bad status') body = JSON.stringify({ ...demo, checks: [{ ...demo.checks[0], status: 'maybe' }] });
      const work = mkdtempSync(join(dir, 'bad-'));
      writeFileSync(join(work, 'in.json'), body);
      const { code, err } = await runCli('report', join(work, 'in.json'), '--html', join(work, 'out.html'));
      expect(code).toBe(2);
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err.trim()).toMatch(error);
      expect(readdirSync(work)).toEqual(['in.json']);
    });
  }

  it('an unwritable output: one line, exit code 2, no partial file', async () => {
    const work = mkdtempSync(join(dir, 'unwritable-'));
    writeFileSync(join(work, 'in.json'), JSON.stringify(demo));
    const { code, err } = await runCli('report', join(work, 'in.json'), '--html', join(work, 'missing-dir', 'out.html'));
    expect(code).toBe(2);
    expect(err).toMatch(/^faultline: Cannot write .*missing-dir\/out\.tenet\.log: ENOENT\n$/);
    expect(readdirSync(work)).toEqual(['in.json']);
  });
});

describe('the replay beside the page: drcov and Tenet', () => {
  it('the demo: drcov blocks are the trace\'s straight-line runs, Tenet has one line per step', async () => {
    const html = join(dir, 'files.html');
    const run = await runCli('demo', '--json', '--html', html);
    expect(run.code).toBe(0);
    const trace = JSON.parse(run.out).trace;
    const drcov = readDrcov(readFileSync(join(dir, 'files.drcov')));
    expect(drcov.version).toBe(2);
    expect(drcov.modules.map((m) => m.path)).toEqual(['nt', 'hal']);
    // hal: or/jne, then push/push/call (after the jne's taken branch); nt: the int 3 the flipped target landed on.
    const absolute = drcov.blocks.map((b) => ({ start: drcov.modules[b.module]!.base + BigInt(b.start), size: b.size }));
    expect(absolute).toEqual([
      { start: 0x80a5d8e6n, size: 4 },
      { start: 0x80a5d8f3n, size: 9 },
      { start: 0x8082e3e0n, size: 1 },
    ]);
    const covered = new Set(absolute.flatMap((b) => trace.steps.filter((s: any) => BigInt(s.pc) >= b.start && BigInt(s.pc) < b.start + BigInt(b.size)).map((s: any) => s.index)));
    expect(covered.size).toBe(trace.steps.length);
    const tenet = readFileSync(join(dir, 'files.tenet.log'), 'utf8').trim().split('\n');
    expect(tenet).toHaveLength(trace.steps.length);
    expect(tenet[0]).toMatch(/^EAX=0xe364a01,.*,EIP=0x80a5d8e6$/);
    // The call's effects arrive on the next line, with the pc where the flipped target went.
    expect(tenet[5]).toBe('ESP=0xf78aecac,EIP=0x8082e3e0,mr=0x80a5b020:e4e38280,mw=0xf78aecac:fcd8a580');
  });

  it.skipIf(lacks('binutils'))('trace --format drcov: a run over a raw image, the image as the module', async () => {
    const { assemble } = await import('../helpers/assemble.ts');
    writeFileSync(join(dir, 'code.bin'), assemble('x86', 'mov ecx, 3\nloop_top: dec ecx\njnz loop_top\nnop\nint3'));
    const out = join(dir, 'run.drcov');
    const { code, err } = await runCli('trace', '--arch', 'x86', '--image', `${join(dir, 'code.bin')}@0x401000`, '--regs', 'esp=0x7000', '--from', '0x401000', '--count', '50', '--format', 'drcov', '--out', out);
    expect(code, err).toBe(0);
    const drcov = readDrcov(readFileSync(out));
    expect(drcov.modules).toEqual([{ id: 0, base: 0x401000n, end: 0x401000n + BigInt(readFileSync(join(dir, 'code.bin')).length), entry: 0n, path: join(dir, 'code.bin') }]);
    // mov + dec + jnz; then dec + jnz taken back (twice, listed once); the last pass falls through jnz into nop and int3.
    expect(drcov.blocks).toEqual([
      { start: 0, size: 5 + 1 + 2, module: 0 },
      { start: 5, size: 1 + 2, module: 0 },
      { start: 5, size: 1 + 2 + 1 + 1, module: 0 },
    ]);
    const missing = await runCli('trace', '--arch', 'x86', '--image', `${join(dir, 'code.bin')}@0x401000`, '--from', '0x401000', '--count', '5', '--format', 'drcov');
    expect(missing.code).toBe(2);
    expect(missing.err).toBe('faultline: --format drcov writes a binary file: give --out FILE\n');
  });
});
