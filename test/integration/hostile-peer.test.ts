import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDistributor } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { rawSpec, startRawDistributor } from '../helpers/raw-distributor.ts';
import { waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/hardening-jobs/', import.meta.url));
const SECRET = 'hardening-secret';

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function node(name: string, distributors: number[], extra: string[] = []): NodeProcess {
  const p = spawnNode({
    name,
    distributors: distributors.map((port) => `127.0.0.1:${port}`),
    jobs: JOBS,
    extra,
    env: { JR_SECRET: SECRET },
  });
  cleanup.push(() => {
    p.kill();
    return p.exited;
  });
  return p;
}

describe('hostile peer - nothing from the wire is trusted', () => {
  it('hostile peer - out-of-range settings get final INVALID_ARGUMENT feedbacks; the node keeps serving', async () => {
    const good = await startDistributor({ port: 0, secret: SECRET });
    cleanup.push(() => good.close());
    const evil = await startRawDistributor({ id: 'evil', secret: SECRET });
    cleanup.push(() => evil.close());
    const p = node('target', [good.address.port, evil.port]);
    await waitUntil(() => good.nodes().length === 1 && evil.connected(), 15_000, 'both links');

    const bad = [
      { id: 'tiny-period', field: 'period', extra: { period: 1e-300 } },
      { id: 'endless', field: 'maxAttempt', extra: { maxAttempt: 1e15, retryMultiplier: 0 } },
      { id: 'huge-multiplier', field: 'retryMultiplier', extra: { retryMultiplier: 1e300 } },
      { id: 'far-future', field: 'runAt', extra: { runAt: 1e300 } },
      { id: 'bad-cron', field: 'cron', extra: { cron: 'every day' } },
      { id: 'tiny-timeout', field: 'timeout', extra: { timeout: 1e-300 } },
    ];
    for (const b of bad) evil.sendJob(rawSpec(b.id, 'hx.fail', 'evil', b.extra));
    // Meanwhile the real distributor's jobs are served as usual.
    const results = await Promise.all(
      Array.from({ length: 50 }, () => good.enqueue('hx.echo', {}).result),
    );
    expect(results.every((r) => r.node === 'target')).toBe(true);

    await waitUntil(() => evil.feedbacks.length >= bad.length, 5000, 'error feedbacks');
    for (const b of bad) {
      const fb = evil.feedbacks.find((f) => f.jobId === b.id);
      expect(fb, b.id).toMatchObject({
        outcome: 'error',
        final: true,
        error: { code: 'JR_ERR_INVALID_ARGUMENT', name: 'InvalidArgumentError' },
      });
      expect(fb!.error!.message).toContain(b.field);
    }
    // Each was answered accepted (the handle moves on) and its credit returned; none ran.
    const accepted = evil.messages.flatMap((m) => (m.t === 'accepted' ? m.ids : []));
    expect(accepted).toEqual(expect.arrayContaining(bad.map((b) => b.id)));
    expect(evil.feedbacks).toHaveLength(bad.length);
    expect(p.stderr()).toContain('refused a job');
    expect(p.child.exitCode).toBeNull();
  });
});
