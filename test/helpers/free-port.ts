/**
 * A TCP port on the loopback interface that nothing listens on now, for
 * the servers the fleet tests start (redis-server, postgres).
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
