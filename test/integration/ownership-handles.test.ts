// Every handle settles: ids reused after their job finished, in one process over real TCP.
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type Feedback,
} from '../../src/index.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

async function setup(registry: JobRegistry): Promise<Distributor> {
  const d = await startDistributor({ port: 0 });
  open.push(d);
  const n = await startNode({
    name: 'n1',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry,
    concurrency: 4,
  });
  open.push(n);
  await waitUntil(() => d.nodes().length === 1, 5000, 'node');
  return d;
}

describe('ownership - every handle settles', () => {
  it('an id reused after its job finished runs again and its result settles', async () => {
    const reg = new JobRegistry();
    let runs = 0;
    reg.define('count', () => ({ run: ++runs }));
    const d = await setup(reg);
    const keys: string[] = [];
    d.on('feedback', (fb: Feedback) => keys.push(fb.key));
    for (let i = 1; i <= 5; i++) {
      const h = d.enqueue('count', {}, { id: 'same-id' });
      expect(h.id).toBe('same-id');
      await expect(h.result).resolves.toEqual({ run: i });
    }
    expect(runs).toBe(5);
    // Five feedbacks, each with its own key: none was taken for a duplicate.
    expect(new Set(keys).size).toBe(5);
    expect(d.stats().tracked).toBe(0);
  });

  it('an id still tracked gives the same handle (idempotency key)', async () => {
    const reg = new JobRegistry();
    let runs = 0;
    reg.define('slow', async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 100));
    });
    const d = await setup(reg);
    const a = d.enqueue('slow', {}, { id: 'k1' });
    const b = d.enqueue('slow', {}, { id: 'k1' });
    await Promise.all([a.result, b.result]);
    expect(runs).toBe(1);
  });

  it('close with 150k jobs waiting (no node) settles every handle with a ShutdownError', async () => {
    const d = await startDistributor({ port: 0, maxWaiting: 200_000 });
    open.push(d);
    const n = 150_000;
    let failed = 0;
    const codes = new Set<string>();
    for (let k = 0; k < n; k += 1000) {
      const batch = Array.from({ length: 1000 }, (_, i) => ({
        job: 'nowhere',
        args: { i: k + i },
      }));
      for (const h of d.enqueueMany(batch)) {
        h.result.catch((e: { code: string }) => {
          failed++;
          codes.add(e.code);
        });
      }
    }
    expect(d.stats().waiting).toBe(n);
    await d.close({ timeout: 0 });
    await waitUntil(() => failed === n, 5000, 'every handle rejected');
    expect([...codes]).toEqual([ErrorCodes.Shutdown]);
  });
});
