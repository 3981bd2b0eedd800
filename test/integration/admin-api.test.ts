// The admin HTTP API over real HTTP, against a distributor with two nodes over real TCP.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, startDistributor } from '../../src/index.ts';
import { call, post, startAdminCluster, type AdminCluster } from '../helpers/admin-cluster.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: AdminCluster[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const c of open.splice(0)) await c.close();
});

async function cluster(http: Parameters<typeof startAdminCluster>[0] = {}) {
  const c = await startAdminCluster(http);
  open.push(c);
  return c;
}

/** Enqueues a flaky job and waits until a node keeps it failed. */
async function failedJob(c: AdminCluster, invoice = 'A-1'): Promise<string> {
  const h = c.d.enqueue('flaky', { invoice });
  await h.result.catch(() => undefined);
  await waitUntil(async () => (await c.d.getJob(h.id))?.state === 'failed', 5000, 'the failure');
  return h.id;
}

describe('admin API - reading', () => {
  it('nodes with their lag, counts per node and in total, status', async () => {
    const c = await cluster();
    await Promise.all([1, 2, 3].map((n) => c.d.enqueue('ok', { n }).result));
    const nodes = await call(`${c.base}/api/nodes`);
    expect(nodes.status).toBe(200);
    expect(nodes.body.nodes.map((n: { name: string }) => n.name).sort()).toEqual([
      'worker-a',
      'worker-b',
    ]);
    for (const n of nodes.body.nodes) expect(typeof n.lagMs).toBe('number');
    const counts = await call(`${c.base}/api/counts`);
    expect(counts.body.total.complete).toBe(3);
    expect(Object.keys(counts.body.nodes).sort()).toEqual(['worker-a', 'worker-b']);
    const status = await call(`${c.base}/api/status`);
    expect(status.body).toMatchObject({ id: c.d.id, paused: false, nodes: 2 });
    const series = await call(`${c.base}/api/series`);
    expect(series.body.completed.reduce((a: number, b: number) => a + b, 0)).toBe(3);
    // The second they ended in has their turnaround; the others are empty.
    const measured = series.body.p99.filter((v: number | null) => v !== null);
    expect(measured.length).toBeGreaterThanOrEqual(1);
    for (const v of measured) expect(v).toBeGreaterThan(0);
    expect(series.body.p50).toHaveLength(series.body.completed.length);
  });

  it('one job by id; a failed job has its error and args; unknown ids and routes are 404', async () => {
    const c = await cluster();
    const id = await failedJob(c);
    const r = await call(`${c.base}/api/jobs/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.job).toMatchObject({
      id,
      name: 'flaky',
      state: 'failed',
      args: { invoice: 'A-1' },
    });
    expect(r.body.job.lastError.message).toContain('invoice A-1 is not ready');
    const missing = await call(`${c.base}/api/jobs/no-such-job`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('JR_ERR_NOT_FOUND');
    const route = await call(`${c.base}/api/nope`);
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe('JR_ERR_NOT_FOUND');
  });

  it('jobs listing: by state and name, newest first, pages over both nodes without repeats', async () => {
    const c = await cluster();
    const ids: string[] = [];
    for (let n = 0; n < 7; n++) {
      const h = c.d.enqueue('ok', { n });
      ids.push(h.id);
      await h.result;
    }
    const failed = await failedJob(c);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `state=complete&name=ok&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await call(`${c.base}/api/jobs?${q}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.jobs.map((j: { id: string }) => j.id));
      cursor = r.body.next;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const onlyFailed = await call(`${c.base}/api/jobs?state=failed`);
    expect(onlyFailed.body.jobs.map((j: { id: string }) => j.id)).toEqual([failed]);
    const node = onlyFailed.body.jobs[0].node as string;
    const other = node === 'worker-a' ? 'worker-b' : 'worker-a';
    const elsewhere = await call(`${c.base}/api/jobs?state=failed&node=${other}`);
    expect(elsewhere.body.jobs).toEqual([]);
  });
});

describe('admin API - acting', () => {
  it('retry: a failed job runs again on its node and completes', async () => {
    const c = await cluster();
    const id = await failedJob(c);
    c.flaky.fixed = true;
    const r = await post(`${c.base}/api/jobs/${id}/retry`);
    expect(r.status).toBe(200);
    await waitUntil(async () => (await c.d.getJob(id))?.state === 'complete', 5000, 'the retry');
    const again = await post(`${c.base}/api/jobs/${id}/retry`);
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('JR_ERR_INVALID_ARGUMENT');
    expect((await post(`${c.base}/api/jobs/nothing/retry`)).body.error.code).toBe(
      'JR_ERR_NOT_FOUND',
    );
  });

  it('cancel a delayed job by id; pause and resume', async () => {
    const c = await cluster();
    const h = c.d.enqueue('ok', { n: 1 }, { after: 60 });
    await h.accepted;
    const r = await post(`${c.base}/api/jobs/${h.id}/cancel`);
    expect(r.body).toEqual({ cancelled: true });
    await expect(h.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    expect((await post(`${c.base}/api/jobs/${h.id}/cancel`)).body).toEqual({ cancelled: false });
    expect((await post(`${c.base}/api/pause`)).body).toEqual({ paused: true });
    expect(c.d.paused).toBe(true);
    expect((await post(`${c.base}/api/resume`)).body).toEqual({ paused: false });
    expect(c.d.paused).toBe(false);
  });
});

describe('admin API - bad requests get JSON errors with library codes', () => {
  it('CSRF: a POST without JSON or the custom header, or from another origin, is refused', async () => {
    const c = await cluster();
    const form = await call(`${c.base}/api/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expect(form.status).toBe(403);
    expect(form.body.error.code).toBe('JR_ERR_AUTH_FAILED');
    const cross = await post(`${c.base}/api/pause`, { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    const header = await call(`${c.base}/api/pause`, {
      method: 'POST',
      headers: { 'x-jobreactor': '1' },
    });
    expect(header.status).toBe(200);
    expect(c.d.paused).toBe(true);
  });

  it('wrong methods, bad filters, bad JSON, oversized bodies', async () => {
    const c = await cluster();
    const get = await call(`${c.base}/api/pause`);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const put = await call(`${c.base}/api/nodes`, {
      method: 'POST',
      headers: { 'x-jobreactor': '1' },
    });
    expect(put.status).toBe(405);
    for (const q of ['state=done', 'limit=0', 'limit=9999', 'limit=x', 'sort=id']) {
      const r = await call(`${c.base}/api/jobs?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('JR_ERR_INVALID_ARGUMENT');
    }
    const json = await call(`${c.base}/api/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(json.status).toBe(400);
    const big = await call(`${c.base}/api/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(100_000, 0x20),
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('JR_ERR_PAYLOAD_TOO_LARGE');
    expect((await call(`${c.base}/api/jobs/%E0%A4%A`)).status).toBe(400);
    expect(c.d.paused).toBe(false);
  });

  it('garbage on the socket closes it; the distributor goes on', async () => {
    const c = await cluster();
    const port = c.d.httpAddress!.port;
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('\x00\x01 NOT HTTP\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => undefined);
      s.resume();
    });
    expect((await c.d.enqueue('ok', { n: 2 }).result).doubled).toBe(4);
    expect((await call(`${c.base}/api/status`)).status).toBe(200);
  });
});

describe('admin API - auth', () => {
  it('with a token: none is 401, a wrong one 403, the right one passes; the page itself is served', async () => {
    const token = 'a-long-enough-admin-token';
    const c = await cluster({ token });
    const none = await call(`${c.base}/api/status`);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('JR_ERR_AUTH_REQUIRED');
    const wrong = await call(`${c.base}/api/status`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('JR_ERR_AUTH_FAILED');
    const right = await call(`${c.base}/api/status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(right.status).toBe(200);
    const page = await call(`${c.base}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script type="module" src="app.js">');
    for (const f of ['/app.js', '/vendor/htm-preact.js', '/vendor/uplot.js', '/vendor/uplot.css']) {
      expect((await call(`${c.base}${f}`)).status, f).toBe(200);
    }
  });

  it('without a token: a request naming another host (DNS rebinding) is refused', async () => {
    const c = await cluster();
    const r = await call(`${c.base}/api/status`, { headers: { host: 'evil.example' } });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('JR_ERR_AUTH_REQUIRED');
  });

  it('options: a non-loopback host needs a token, unknown keys and short tokens are refused', async () => {
    await expect(startDistributor({ http: { host: '0.0.0.0' } })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(startDistributor({ http: { prot: 1 } as never })).rejects.toThrow(
      /unknown http option 'prot'/,
    );
    await expect(startDistributor({ http: { token: 'short' } })).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it('httpHandler() mounted in an application server under a base path', async () => {
    const c = await cluster();
    const handler = c.d.httpHandler({ basePath: '/ops/jobs' });
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/ops/jobs')) return handler(req, res);
      res.end('app');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const r = await call(`http://127.0.0.1:${port}/ops/jobs/api/counts`);
    expect(r.status).toBe(200);
    expect(r.body.total).toBeDefined();
    expect((await call(`http://127.0.0.1:${port}/ops/jobs/`)).status).toBe(200);
    expect(() => c.d.httpHandler({ tokn: 'x' } as never)).toThrow(InvalidArgumentError);
  });
});
