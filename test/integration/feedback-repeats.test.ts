// A feedback a node sends again after a reconnect (its outbox is resent) must reach the
// application once, however many feedbacks other nodes sent meanwhile. Raw nodes (the
// project's transport pieces only) play the nodes, so the test decides what is resent.
import { afterEach, describe, expect, it } from 'vitest';
import { startDistributor, type Distributor } from '../../src/index.ts';
import type { Feedback, JobSpec } from '../../src/model/job.ts';
import type { HelloMessage, Message } from '../../src/protocol/messages.ts';
import type { Connection } from '../../src/transport/connection.ts';
import { initiateHandshake } from '../../src/transport/handshake.ts';
import { connectTcp } from '../../src/transport/tcp-endpoints.ts';
import { finalFeedback } from '../helpers/job-records.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

/** A node made of a connection and a handshake: it records what it gets, sends what it is told. */
async function rawNode(
  d: Distributor,
  name: string,
): Promise<{ conn: Connection; jobs: JobSpec[] }> {
  const conn = await connectTcp('127.0.0.1', d.address.port);
  open.push(conn);
  const hello: Omit<HelloMessage, 't' | 'v' | 'nonce'> = {
    node: name,
    instance: `${name}-${Math.random()}`,
    capacity: 1,
    window: 1,
    windowBytes: 1 << 20,
    durable: false,
    jobs: ['tick'],
  };
  const jobs: JobSpec[] = [];
  conn.onMessage((m: Message) => {
    if (m.t === 'jobs') jobs.push(...m.jobs);
  });
  await initiateHandshake(conn, { hello });
  return { conn, jobs };
}

describe('feedback repeats', () => {
  it('a run feedback resent after a reconnect runs its callback once, after 120k feedbacks of another node', async () => {
    const d = await startDistributor({ port: 0 });
    open.push({ close: () => d.close({ timeout: 100 }) });
    const runs: number[] = [];
    let orphans = 0;
    d.on('feedback:orphan', () => void orphans++);
    const h = d.enqueue(
      'tick',
      { n: 0 },
      { period: '1h', node: 'slow', strictNode: true },
      (args) => void runs.push(args.n),
    );
    const slow = await rawNode(d, 'slow');
    await waitUntil(() => slow.jobs.length === 1, 5000, 'the job on the slow node');
    const spec = slow.jobs[0]!;
    const run = (n: number): Feedback => ({
      key: `${spec.id}@${spec.runAt + (n - 1) * 3_600_000}`,
      jobId: spec.id,
      distributor: '',
      node: '',
      outcome: 'success',
      final: false,
      args: { n },
      attempt: 1,
      next: spec.runAt + n * 3_600_000,
      runs: n,
    });
    slow.conn.send({ t: 'accepted', ids: [spec.id] });
    slow.conn.send({ t: 'feedbacks', fbs: [run(1)] });
    await waitUntil(() => runs.length === 1, 5000, 'run 1');

    // Another node sends many feedbacks (for jobs nobody tracks) meanwhile.
    const fast = await rawNode(d, 'fast');
    const total = 120_000;
    for (let from = 0; from < total; from += 5000) {
      const fbs: Feedback[] = [];
      for (let i = from; i < from + 5000; i++) fbs.push(finalFeedback(`other-${i}`, ''));
      fast.conn.send({ t: 'feedbacks', fbs });
    }
    await waitUntil(() => orphans === total, 20_000, 'the other node’s feedbacks');

    // The slow node's link drops and comes back; it resends what it holds unacknowledged
    // (run 1, whose acknowledgement it did not see), then reports run 2.
    slow.conn.close();
    await waitUntil(() => !d.nodes().some((n) => n.name === 'slow'), 5000, 'the slow node gone');
    const again = await rawNode(d, 'slow');
    await waitUntil(() => again.jobs.length === 1, 5000, 'the job sent again');
    again.conn.send({ t: 'accepted', ids: [spec.id] });
    again.conn.send({ t: 'feedbacks', fbs: [run(1)] });
    again.conn.send({ t: 'feedbacks', fbs: [run(2)] });
    await waitUntil(() => runs.length >= 2, 5000, 'run 2');
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toEqual([1, 2]);
    expect(orphans).toBe(total); // the repeat is no orphan either
    void h.result.catch(() => {});
  }, 40_000);
});
