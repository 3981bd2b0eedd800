import { createServer } from 'node:http';
import { InvalidArgumentError, type MetricsRegistry } from '../index.ts';

/** `--metrics [host:]port` → where to listen (loopback unless a host is given). */
export function parseMetricsAddress(value: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port > 65535) {
    throw new InvalidArgumentError(`--metrics must be [host:]port (got ${JSON.stringify(value)})`);
  }
  return { host: m[1] ?? '127.0.0.1', port };
}

const importProm = () => import('prom-client').then((m) => m.default);

/**
 * A prom-client Registry with the process's default metrics (CPU, memory, event-loop lag),
 * for a CLI node's `--metrics`. prom-client is an optional peer dependency: a missing one
 * is an InvalidArgumentError naming the package.
 */
export async function createMetricsRegistry(): Promise<MetricsRegistry> {
  let prom: Awaited<ReturnType<typeof importProm>>;
  try {
    prom = await importProm();
  } catch (err) {
    throw new InvalidArgumentError(
      '--metrics needs the package prom-client, which is not installed: run `npm install prom-client` (an optional peer dependency of job-reactor)',
      { cause: err },
    );
  }
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  return registry;
}

/** Serves `GET /metrics` from `registry`; everything else is 404. Resolves once listening. */
export function serveMetrics(
  registry: MetricsRegistry,
  address: { host: string; port: number },
): Promise<{ port: number; close(): void }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const a = server.address() as { port: number };
      server.unref();
      resolve({ port: a.port, close: () => server.close() });
    });
  });
}
