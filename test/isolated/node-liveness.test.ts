// Isolated (see vitest.config.ts): it measures ping round trips under a retry storm, which a
// CPU shared with the parallel suite stretches (213 ms once on a clean clone's CI run).
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDistributor, type Distributor } from '../../src/index.ts';
import { MAX_ATTEMPT_LIMIT } from '../../src/scheduling/job-settings.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/hardening-jobs/', import.meta.url));

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(extra: string[] = []): Promise<{ d: Distributor; p: NodeProcess }> {
  const d = await startDistributor({ port: 0 });
  cleanup.push(() => d.close({ timeout: 0 }));
  const p = spawnNode({
    name: 'busy',
    distributors: [`127.0.0.1:${d.address.port}`],
    jobs: JOBS,
    concurrency: 8,
    extra,
  });
  cleanup.push(() => {
    p.kill();
    return p.exited;
  });
  await waitUntil(() => d.nodes().length === 1, 15_000, 'the node');
  return { d, p };
}

describe('node liveness - a node never starves its own loop', () => {
  it('node liveness - ping: a measured round trip; unknown node rejects', async () => {
    const { d } = await setup();
    const ms = await d.ping('busy');
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1000);
    await expect(d.ping('nobody')).rejects.toMatchObject({ code: 'JR_ERR_CONNECTION' });
  });

  it('node liveness - a retry storm (always-failing sync jobs, retryMultiplier 0, max attempts) leaves pings answered within 100 ms', async () => {
    const { d, p } = await setup();
    const dropped: unknown[] = [];
    d.on('node:disconnected', (info) => dropped.push(info));
    const storm = Array.from({ length: 16 }, () =>
      d.enqueue('hx.fail', {}, { maxAttempt: MAX_ATTEMPT_LIMIT, retryMultiplier: 0 }),
    );
    const settled = storm.map((h) =>
      h.result.then(
        () => 'ok' as const,
        (e: unknown) => e,
      ),
    );
    // Sample for ~3 s while the storm runs.
    const samples: number[] = [];
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      samples.push(await d.ping('busy', { timeout: 2000 }));
      await sleep(20);
    }
    const max = Math.max(...samples);
    if (process.env.JR_REPORT)
      console.info(`ping under retry storm: max ${max} ms, ${samples.length} samples`);
    expect(max).toBeLessThan(100);
    // Real work still gets through, and the storm ends: every attempt was used, then failed.
    await expect(d.enqueue('hx.echo', {}).result).resolves.toMatchObject({ node: 'busy' });
    const outcomes = await Promise.all(settled);
    for (const o of outcomes) {
      expect(o).toMatchObject({ code: 'JR_ERR_JOB_FAILED' });
    }
    expect(dropped).toEqual([]);
    expect(p.child.exitCode).toBeNull();
  }, 120_000);

  it('node liveness - a step that blocks the loop past blockWarnMs is logged with its job and the defer hint', async () => {
    const { d, p } = await setup(['--block-warn-ms', '100']);
    const h = d.enqueue('hx.block', { ms: 300 });
    await h.result;
    await waitUntil(() => p.stderr().includes('held the event loop'), 5000, 'the warning');
    const line = p
      .stderr()
      .split('\n')
      .find((l) => l.includes('held the event loop'))!;
    expect(line).toContain('hx.block');
    expect(line).toContain(h.id);
    expect(line).toContain('defer: true');
    expect(line).toMatch(/for \d{3,} ms/);
  });
});
