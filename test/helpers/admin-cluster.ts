import { request } from 'node:http';
import {
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type DistributorOptions,
  type WorkerNode,
} from '../../src/index.ts';
import { waitUntil } from './wait.ts';

/**
 * A distributor with its admin server and two in-process nodes over real TCP: `ok` jobs
 * succeed, `flaky` jobs fail (one attempt) until `fixed` is set, `slow` jobs wait for
 * `release()`. Nodes keep finished jobs, so a retried job is seen complete.
 */
export interface AdminCluster {
  d: Distributor;
  nodes: WorkerNode[];
  base: string;
  flaky: { fixed: boolean };
  release(): void;
  close(): Promise<void>;
}

export async function startAdminCluster(
  http: NonNullable<DistributorOptions['http']> = {},
): Promise<AdminCluster> {
  const flaky = { fixed: false };
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const registry = new JobRegistry();
  registry.define('ok', (args: { n: number }) => ({ doubled: args.n * 2 }));
  registry.define('flaky', (args: { invoice: string }) => {
    if (!flaky.fixed) throw new Error(`invoice ${args.invoice} is not ready`);
  });
  registry.define('slow', () => gate);
  const d = await startDistributor({ port: 0, http });
  const nodes: WorkerNode[] = [];
  for (const name of ['worker-a', 'worker-b']) {
    nodes.push(
      await startNode({
        name,
        distributors: [`127.0.0.1:${d.address.port}`],
        registry,
        removeDoneJobs: false,
        maxAttempt: 1,
      }),
    );
  }
  await waitUntil(() => d.nodes().length === 2, 5000, 'both nodes to connect');
  const a = d.httpAddress!;
  return {
    d,
    nodes,
    base: `http://127.0.0.1:${a.port}`,
    flaky,
    release,
    async close() {
      release();
      for (const n of nodes) await n.stop();
      await d.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, asserted by the tests
  body: any;
  text: string;
}

/** An HTTP request with any headers (fetch forbids setting Host and Origin). */
export function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, body, text });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A POST as the dashboard sends it. */
export const post = (url: string, headers: Record<string, string> = {}) =>
  call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });
