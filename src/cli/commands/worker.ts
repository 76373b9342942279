/**
 * `faultline worker --queue redis://HOST:PORT [--jobs N]`: takes the dumps
 * `faultline batch --queue` put on the queue and explains them, N at a
 * time, until stopped (SIGINT or SIGTERM: the jobs in hand finish first).
 * One line per dump on stderr.
 *
 * @example
 * ```sh
 * faultline worker --queue redis://10.0.0.5:6379 --jobs 4
 * ```
 */
import { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { parseCount } from '../../parse.ts';
import type { Io } from '../main.ts';

export function addWorkerCommand(program: Command, io: Io): void {
  program
    .command('worker')
    .description('explain the dumps `batch --queue` put on a Redis queue, until stopped')
    .requiredOption('--queue <url>', 'the BullMQ queue\'s Redis (redis://HOST:PORT)')
    .option('--jobs <n>', 'dumps explained at once (default: the number of cores)')
    .action(async (flags: { queue: string; jobs?: string }) => {
      const concurrency = flags.jobs === undefined ? availableParallelism() : parseCount(flags.jobs, '--jobs');
      const { startQueueWorker } = await import('../../fleet/queue.ts');
      const worker = await startQueueWorker({
        url: flags.queue,
        concurrency,
        onJob: (job, outcome) => io.err(`worker: ${job.path}: ${outcome.report ? outcome.report.verdict.class : `error: ${outcome.error}`} (${(outcome.elapsedMs / 1000).toFixed(1)} s)\n`),
      });
      io.err(`worker: taking jobs from ${flags.queue} (${concurrency} at a time)\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await worker.close();
    });
}
