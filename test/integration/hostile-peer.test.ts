import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDistributor } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { rawSpec, startRawDistributor } from '../helpers/raw-distributor.ts';
import { sleep, waitUntil } from '../helpers/wait.ts';

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
    // Feedbacks are routed by the distributor id, which is not on the wire (the link knows
    // it): a job claiming another one still reports to its sender.
    evil.sendJob(rawSpec('spoofed', 'hx.echo', 'someone-else'));
    // The node keeps answering (it used to spin for seconds on the first two). The bound
    // is far below that spin and far above a loaded CI machine's hiccups (100 ms was hit).
    const rtts: number[] = [];
    for (let i = 0; i < 10; i++) rtts.push(await good.ping('target'));
    expect(Math.max(...rtts)).toBeLessThan(1000);
    // Meanwhile the real distributor's jobs are served as usual.
    const results = await Promise.all(
      Array.from({ length: 50 }, () => good.enqueue('hx.echo', {}).result),
    );
    expect(results.every((r) => r.node === 'target')).toBe(true);

    await waitUntil(() => evil.feedbacks.length >= bad.length + 1, 5000, 'error feedbacks');
    expect(evil.feedbacks.find((f) => f.jobId === 'spoofed')).toMatchObject({
      outcome: 'success',
      final: true,
    });
    for (const b of bad) {
      const fb = evil.feedbacks.find((f) => f.jobId === b.id);
      expect(fb, b.id).toMatchObject({
        outcome: 'error',
        final: true,
        error: { code: 'JR_ERR_INVALID_ARGUMENT', name: 'InvalidArgumentError' },
      });
      expect(fb!.error!.message).toContain(b.field);
      expect(fb!.distributor).toBe('evil'); // to the sender, whatever the job claimed
    }
    // Each was answered accepted (the handle moves on) and its credit returned; none ran.
    const accepted = evil.messages.flatMap((m) => (m.t === 'accepted' ? m.ids : []));
    expect(accepted).toEqual(expect.arrayContaining(bad.map((b) => b.id)));
    expect(evil.feedbacks).toHaveLength(bad.length + 1);
    expect(p.stderr()).toContain('refused a job');
    expect(p.child.exitCode).toBeNull();
  });
});

/** Resident memory of a process, bytes (Linux /proc), or undefined elsewhere. */
function rss(pid: number | undefined): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

describe('hostile peer - a distributor that never acknowledges', () => {
  it('hostile peer - the outbox stops at the cap, the peer alone is held back, and is let go once it acknowledges', async () => {
    const CAP = 200;
    const BATCH = 50;
    const good = await startDistributor({ port: 0, secret: SECRET });
    cleanup.push(() => good.close());
    const evil = await startRawDistributor({ id: 'deaf', secret: SECRET, ack: false });
    cleanup.push(() => evil.close());
    const p = node(
      'patient',
      [good.address.port, evil.port],
      // A window of 16 (concurrency 8 + 8 prefetched) keeps the bound below tight.
      ['--max-pending-feedbacks', String(CAP), '--prefetch', '8'],
    );
    await waitUntil(() => good.nodes().length === 1 && evil.connected(), 15_000, 'both links');
    const ids = (t: 'accepted' | 'rejected') =>
      evil.messages.flatMap((m) => (m.t === t ? m.ids : []));

    // Batches, as a peer that ignores credit would send them; a turn apart.
    let sent = 0;
    const flood = async (n: number) => {
      for (let b = 0; b < n / BATCH; b++) {
        for (let i = 0; i < BATCH; i++) evil.sendJob(rawSpec(`deaf-${sent++}`, 'hx.echo', 'deaf'));
        await sleep(5);
      }
    };
    await flood(1000);
    await waitUntil(
      () => ids('accepted').length + ids('rejected').length === sent,
      10_000,
      'answers',
    );
    const rssBefore = rss(p.child.pid);
    await flood(20_000);
    await waitUntil(
      () => ids('accepted').length + ids('rejected').length === sent,
      30_000,
      'answers',
    );

    const accepted = ids('accepted').length;
    // The cap, plus the instant jobs in flight when it was reached: a peer that ignores its
    // credit has at most 2 × the node's window (concurrency 8, spawnNode's default, plus 8
    // prefetched) of them accepted at once; the rest are rejected on arrival, before
    // they could add feedbacks.
    expect(accepted).toBeGreaterThanOrEqual(CAP);
    expect(accepted).toBeLessThanOrEqual(CAP + 2 * (8 + 8));
    expect(ids('rejected')).toHaveLength(sent - accepted);
    // Refusals go batched, one message per turn (a message and an Error per job made a
    // burst to a held-back node cost seconds of blocked loop).
    const refusals = evil.messages.filter((m) => m.t === 'rejected').length;
    expect(refusals).toBeLessThan((sent - accepted) / 10);
    const rejection = evil.messages.find((m) => m.t === 'rejected');
    expect(rejection).toMatchObject({ error: { code: 'JR_ERR_QUEUE_FULL' } });
    expect(evil.messages).toContainEqual(
      expect.objectContaining({ t: 'status', accepting: false }),
    );
    // Nothing dropped: every accepted job's feedback came (and waits for its fback).
    await waitUntil(() => evil.feedbacks.length === accepted, 10_000, 'feedbacks');
    const rssAfter = rss(p.child.pid);
    if (rssBefore !== undefined && rssAfter !== undefined) {
      if (process.env.JR_REPORT) {
        console.info(
          `outbox ${evil.feedbacks.length} (cap ${CAP}) after ${sent} jobs; RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB`,
        );
      }
      expect(rssAfter - rssBefore).toBeLessThan(64 * 2 ** 20);
    }

    // The well-behaved distributor is not held back.
    const results = await Promise.all(
      Array.from({ length: 100 }, () => good.enqueue('hx.echo', {}).result),
    );
    expect(results.every((r) => r.node === 'patient')).toBe(true);
    expect(good.nodes()[0]!.paused).toBe(false);

    // Acknowledging brings it under half the cap: accepting again. While held back it got
    // no credit (a credit withheld is given back on release: link-batch.test.ts).
    evil.send({ t: 'fback', keys: evil.feedbacks.map((f) => f.key) });
    await waitUntil(
      () => evil.messages.some((m) => m.t === 'status' && m.accepting),
      5000,
      'accepting again',
    );
    const held = evil.messages.findIndex((m) => m.t === 'status' && !m.accepting);
    const released = evil.messages.findIndex((m) => m.t === 'status' && m.accepting);
    expect(evil.messages.slice(held, released).some((m) => m.t === 'credit')).toBe(false);
    const before = ids('accepted').length;
    evil.sendJob(rawSpec('deaf-again', 'hx.echo', 'deaf'));
    await waitUntil(() => ids('accepted').length === before + 1, 5000, 'a job taken again');
    expect(p.child.exitCode).toBeNull();
  }, 120_000);

  it('hostile peer - periodic jobs of a distributor that never acknowledges stop adding feedbacks at the cap', async () => {
    const CAP = 100;
    const evil = await startRawDistributor({ id: 'deaf2', secret: SECRET, ack: false });
    cleanup.push(() => evil.close());
    node('steady', [evil.port], ['--max-pending-feedbacks', String(CAP)]);
    await waitUntil(() => evil.connected(), 15_000, 'the link');
    for (let i = 0; i < 20; i++) {
      evil.sendJob(rawSpec(`tick-${i}`, 'hx.echo', 'deaf2', { period: 10 }));
    }
    await waitUntil(() => evil.feedbacks.length >= CAP, 10_000, 'the cap');
    await sleep(1500);
    const atCap = evil.feedbacks.length;
    // The cap, plus the runs that were under way when it was reached (concurrency 8).
    expect(atCap).toBeLessThanOrEqual(CAP + 8);
    await sleep(1500);
    expect(evil.feedbacks.length).toBe(atCap);
    // Acknowledged: the periodic jobs run again.
    evil.send({ t: 'fback', keys: evil.feedbacks.map((f) => f.key) });
    await waitUntil(() => evil.feedbacks.length > atCap + 20, 10_000, 'runs again');
  }, 60_000);
});
