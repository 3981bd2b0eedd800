import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on: bound a moment ago, then closed. For a process that
 * needs a port number up front (a CLI node's --metrics), or a dial that must be refused.
 */
export function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
