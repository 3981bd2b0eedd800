import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbMonitor, LmdbStorage, startDistributor, type JobHandle } from '../../src/index.ts';
import { spawnNode, type NodeProcess } from '../helpers/node-process.ts';
import { sleep } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'jr-lmdb-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Wall time the kill loop may take (the whole test stays well under a minute and a half). */
const LOOP_MS = Number(process.env.JR_CRASH_LOOP_MS ?? 45_000);
/** Jobs enqueued per 10 ms tick while the loop runs (up to ~ 3,000 jobs/s offered). */
const PER_TICK = 30;
/** Jobs not yet accepted, at most: the load follows what the node (often restarting) takes. */
const MAX_UNACCEPTED = 3000;

describe('lmdb crash safety', () => {
  it(
    'SIGKILL at random moments under load, restart at once, many times: 0 jobs lost, the store stays readable',
    async () => {
      const d = await startDistributor({ port: 0 });
      const store = join(root, 'store');
      const address = `127.0.0.1:${d.address.port}`;
      const start = (): NodeProcess =>
        spawnNode({
          name: 'crashy',
          distributors: [address],
          jobs: JOBS,
          concurrency: 32,
          // Quarantine is not under test here: a job may be mid-run at several kills.
          extra: ['--storage', `lmdb:${store}`, '--max-deliveries', '100000'],
        });
      const handles: JobHandle[] = [];
      let producing = true;
      let accepted = 0;
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          for (let k = 0; k < PER_TICK && handles.length - accepted < MAX_UNACCEPTED; k++) {
            // Mostly instant jobs, some due a little later (they wait in the store across kills).
            const delayed = k % 5 === 0;
            const h = d.enqueue('it.echo', { i, k }, delayed ? { after: 0.2 + (k % 7) / 10 } : {});
            h.accepted.then(
              () => accepted++,
              () => {},
            );
            handles.push(h);
          }
          await sleep(10);
        }
      })();
      let node = start();
      const kills = { working: 0, starting: 0 };
      let enqueued = 0;
      const loopEnd = Date.now() + LOOP_MS;
      try {
        for (let round = 0; Date.now() < loopEnd; round++) {
          if (round % 3 === 2) {
            // While starting: opening the store, taking the lease, resuming stored jobs.
            await sleep(Math.floor(Math.random() * 700));
            if (d.nodes().length === 0) kills.starting++;
            else kills.working++;
          } else {
            // While working: jobs arriving, committing, running, feedbacks going out.
            const connected = Date.now();
            while (d.nodes().length === 0 && Date.now() - connected < 10_000) await sleep(5);
            await sleep(Math.floor(Math.random() * 300));
            kills.working++;
          }
          node.kill('SIGKILL');
          await node.exited;
          node = start();
        }
        producing = false;
        await producer;
        enqueued = handles.length;
        const settled = await Promise.race([
          Promise.allSettled(handles.map((h) => h.result)),
          sleep(60_000).then(() => undefined),
        ]);
        expect(settled, 'every job settles after the last restart').toBeDefined();
        const failed = settled!.filter((r) => r.status === 'rejected');
        expect(failed, JSON.stringify(failed.slice(0, 3))).toHaveLength(0);
        // The last node may still be starting (every job may have settled before it): its
        // SIGTERM handler is installed once it runs.
        const up = Date.now();
        while (d.nodes().length === 0 && Date.now() - up < 20_000) await sleep(5);
        node.kill('SIGTERM');
        expect(await node.exited).toBe(0);
      } finally {
        producing = false;
        node.kill('SIGKILL');
        await d.close({ timeout: 100 });
      }
      // The store opens cleanly and holds nothing live: every job finished and was removed.
      const monitor = new LmdbMonitor({ path: store });
      try {
        const nodes = await monitor.nodes();
        expect(nodes.map((x) => [x.name, x.jobs])).toEqual([['crashy', 0]]);
      } finally {
        await monitor.close();
      }
      const storage = new LmdbStorage({ path: store });
      await storage.open('crashy');
      expect(await storage.list()).toEqual([]);
      await storage.close();
      console.log(
        `lmdb crash loop: ${kills.working + kills.starting} SIGKILLs in ${LOOP_MS / 1000} s (${kills.working} while working, ${kills.starting} while starting), ${enqueued} jobs, 0 lost`,
      );
      expect(kills.working).toBeGreaterThanOrEqual(10); // fewer on a loaded machine (each start costs ~0.5 s)
    },
    LOOP_MS + 120_000,
  );
});
