// `jobreactor jobs … --distributor-http`: the real CLI in a child process against a running
// distributor's admin API (two in-process nodes over real TCP).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminCluster, type AdminCluster } from '../helpers/admin-cluster.ts';
import { jobsCli } from '../helpers/jobs-cli.ts';
import { waitUntil } from '../helpers/wait.ts';

const TOKEN = 'cli-test-admin-token-42';
const cli = jobsCli;

let c: AdminCluster;
let failed: string;
let url: string;
const withToken = () => ({ JR_ADMIN_TOKEN: TOKEN });

beforeAll(async () => {
  c = await startAdminCluster({ token: TOKEN });
  url = c.base;
  for (let n = 0; n < 4; n++) await c.d.enqueue('ok', { n }).result;
  const h = c.d.enqueue('flaky', { invoice: 'CLI-7' });
  await h.result.catch(() => undefined);
  await waitUntil(async () => (await c.d.getJob(h.id))?.state === 'failed', 5000, 'the failure');
  failed = h.id;
}, 30_000);

afterAll(async () => {
  await c?.close();
});

describe('jobs CLI - against a running distributor', () => {
  it('counts, nodes, list --status failed, show <id>', async () => {
    const counts = await cli(['counts', '--distributor-http', url], withToken());
    expect(counts.code, counts.stderr).toBe(0);
    expect(counts.stdout).toMatch(/^total\s+0\s+0\s+0\s+0\s+0\s+4\s+1$/m);
    const nodes = await cli(['nodes', '--distributor-http', url, '--json'], withToken());
    expect(
      JSON.parse(nodes.stdout)
        .map((n: { name: string }) => n.name)
        .sort(),
    ).toEqual(['worker-a', 'worker-b']);
    const list = await cli(['list', '--distributor-http', url, '--status', 'failed'], withToken());
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(failed);
    expect(list.stdout).toContain('invoice CLI-7 is not ready');
    const show = await cli(['show', failed, '--distributor-http', url, '--json'], withToken());
    expect(JSON.parse(show.stdout)).toMatchObject({ id: failed, state: 'failed' });
  });

  it('list pages with --limit and --cursor', async () => {
    const first = await cli(
      ['list', '--distributor-http', url, '--status', 'complete', '--limit', '3', '--json'],
      withToken(),
    );
    const page = JSON.parse(first.stdout) as { jobs: { id: string }[]; next: string };
    expect(page.jobs).toHaveLength(3);
    const second = await cli(
      ['list', '--distributor-http', url, '--status', 'complete', '--cursor', page.next, '--json'],
      withToken(),
    );
    expect(JSON.parse(second.stdout)).toMatchObject({ next: null });
    expect(JSON.parse(second.stdout).jobs).toHaveLength(1);
  });

  it('the token from --token-file; errors print the API code and exit 1', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jr-cli-')), 'token');
    writeFileSync(file, `${TOKEN}\n`);
    expect((await cli(['counts', '--distributor-http', url, '--token-file', file])).code).toBe(0);
    const none = await cli(['counts', '--distributor-http', url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^JR_ERR_AUTH_REQUIRED: /);
    const missing = await cli(['show', 'no-such-id', '--distributor-http', url], withToken());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^JR_ERR_NOT_FOUND: no job no-such-id/);
    const needsUrl = await cli(['counts']);
    expect(needsUrl.stderr).toMatch(/^JR_ERR_INVALID_ARGUMENT: .*--distributor-http/);
    const down = await cli(['counts', '--distributor-http', 'http://127.0.0.1:1']);
    expect(down.stderr).toMatch(/^JR_ERR_CONNECTION: /);
  });

  it('retry <id> runs the failed job again; cancel and pause/resume', async () => {
    c.flaky.fixed = true;
    const r = await cli(['retry', failed, '--distributor-http', url], withToken());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`job ${failed}`);
    await waitUntil(async () => (await c.d.getJob(failed))?.state === 'complete', 5000, 'retry');
    const later = c.d.enqueue('ok', { n: 9 }, { after: 60 });
    await later.accepted;
    const cancel = await cli(['cancel', later.id, '--distributor-http', url], withToken());
    expect(cancel.stdout).toContain('cancelled');
    await expect(later.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_CANCELLED' });
    expect((await cli(['pause', '--distributor-http', url], withToken())).stdout).toContain(
      'paused',
    );
    expect(c.d.paused).toBe(true);
    await cli(['resume', '--distributor-http', url], withToken());
    expect(c.d.paused).toBe(false);
  });
});
