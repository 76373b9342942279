/**
 * Runs one faultline command line in this process, as bin/faultline.js
 * does, and prints what a hostile-input case is judged on as one JSON line:
 * the exit code, what it printed, how long the command took from `main`'s
 * start, in wall time and in CPU time (Node's and the loader's start-up,
 * ~2 s of CPU whatever the input, is not the input's doing; on a loaded
 * shared machine the wall time also counts waiting for a core), and the
 * process's peak resident memory over its whole life, start-up included.
 *
 * ```sh
 * node --import tsx test/hostile/cli-case.ts info /dev/zero
 * # {"code":2,"out":"","outLength":0,"err":"faultline: /dev/zero: Not a regular file (a character device)\n","errLength":62,"ms":3,"cpuMs":4,"peakRssMb":126}
 * ```
 */
import { main } from '../../src/cli/main.ts';

let out = '';
let err = '';
const started = performance.now();
const cpuBefore = process.cpuUsage();
const code = await main(process.argv.slice(2), { out: (t) => (out += t), err: (t) => (err += t) });
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const cpuMs = (cpu.user + cpu.system) / 1000;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ code, out: out.slice(0, 4096), outLength: out.length, err: err.slice(0, 4096), errLength: err.length, ms, cpuMs, peakRssMb })}\n`);
process.exit(0);
