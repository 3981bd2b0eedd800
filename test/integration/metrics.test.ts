// Prometheus metrics: scraped from the admin API's /metrics over real HTTP and parsed.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
} from '../../src/index.ts';
import { fileURLToPath } from 'node:url';
import { call } from '../helpers/admin-cluster.ts';
import { spawnNode } from '../helpers/node-process.ts';
import { unusedPort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

/** `name{labels} value` lines of a Prometheus text exposition, by series. */
function parse(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    series.set(m[1]!, Number(m[2]));
  }
  return series;
}

async function setup(): Promise<{ d: Distributor; nodeRegistry: Registry; base: string }> {
  const jobs = new JobRegistry();
  jobs.define('resize', () => undefined);
  jobs.define('broken', () => {
    throw new Error('nope');
  });
  const d = await startDistributor({ http: {}, metrics: new Registry() });
  open.push(d);
  const nodeRegistry = new Registry();
  for (const name of ['m1', 'm2']) {
    const n = await startNode({
      name,
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: jobs,
      maxAttempt: 2,
      retryMultiplier: 0,
      metrics: nodeRegistry, // two nodes of one process share it: series differ by node
    });
    open.push(n);
  }
  await waitUntil(() => d.nodes().length === 2, 5000, 'both nodes');
  return { d, nodeRegistry, base: `http://127.0.0.1:${d.httpAddress!.port}` };
}

describe('metrics - prom-client', () => {
  it('the distributor: enqueued, completed and failed by name and node; turnaround; gauges', async () => {
    const { d, base } = await setup();
    const resizes = Array.from({ length: 6 }, () => d.enqueue('resize', {}));
    await Promise.all(resizes.map((h) => h.result));
    const broken = d.enqueue('broken', {});
    await broken.result.catch(() => undefined);
    const ids = [...resizes, broken].map((h) => h.id);
    const r = await call(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const s = parse(r.text);
    expect(s.get('jobreactor_jobs_enqueued_total{name="resize"}')).toBe(6);
    expect(s.get('jobreactor_jobs_enqueued_total{name="broken"}')).toBe(1);
    const sum = (prefix: string) =>
      [...s].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    expect(sum('jobreactor_jobs_completed_total{name="resize"')).toBe(6);
    expect(sum('jobreactor_jobs_failed_total{name="broken"')).toBe(1);
    expect(sum('jobreactor_jobs_completed_total{name="broken"')).toBe(0);
    const turnaround = [...s].filter(([k]) =>
      k.startsWith('jobreactor_job_turnaround_seconds_count{name="resize"'),
    );
    expect(turnaround.reduce((a, [, v]) => a + v, 0)).toBe(6);
    expect(s.get('jobreactor_distributor_nodes')).toBe(2);
    expect(s.get('jobreactor_distributor_waiting_jobs')).toBe(0);
    expect(s.has('jobreactor_node_credit{node="m1"}')).toBe(true);
    // Labels are job and node names only: no series names a job id.
    for (const k of s.keys()) for (const id of ids) expect(k).not.toContain(id);
  });

  it('nodes: attempts by outcome, retries, run time and lateness, per node in one shared registry', async () => {
    const { d, nodeRegistry } = await setup();
    await Promise.all(Array.from({ length: 4 }, () => d.enqueue('resize', {}).result));
    await d.enqueue('broken', {}).result.catch(() => undefined);
    const s = parse(await nodeRegistry.metrics());
    const sum = (prefix: string) =>
      [...s].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    expect(sum('jobreactor_node_jobs_started_total{name="resize"')).toBe(4);
    expect(sum('jobreactor_node_jobs_succeeded_total{name="resize"')).toBe(4);
    expect(sum('jobreactor_node_jobs_retried_total{name="broken"')).toBe(1);
    expect(sum('jobreactor_node_jobs_failed_total{name="broken"')).toBe(1);
    expect(sum('jobreactor_node_job_run_seconds_count{name="resize"')).toBe(4);
    expect(sum('jobreactor_node_job_lateness_seconds_count{name="broken"')).toBe(2);
    // Enqueue to first start: instant jobs' first attempts only (not the retry).
    expect(sum('jobreactor_node_job_start_latency_seconds_count{name="resize"')).toBe(4);
    expect(sum('jobreactor_node_job_start_latency_seconds_count{name="broken"')).toBe(1);
    await d.enqueue('resize', {}, { after: 60 }).accepted;
    expect(sum('jobreactor_node_job_start_latency_seconds_count{name="resize"')).toBe(4);
  });

  it('node gauges: running, ready, scheduled, feedback outbox, connections, paused; gone at stop', async () => {
    const jobs = new JobRegistry();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    jobs.define('held', () => gate);
    const d = await startDistributor({});
    open.push(d);
    const registry = new Registry();
    const n = await startNode({
      name: 'g1',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: jobs,
      concurrency: 2,
      metrics: registry,
    });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
    const handles = Array.from({ length: 5 }, () => d.enqueue('held', {}));
    const later = d.enqueue('held', {}, { after: 60 });
    await Promise.all([...handles, later].map((h) => h.accepted));
    const read = async () => parse(await registry.metrics());
    let s = await read();
    expect(s.get('jobreactor_node_running_jobs{node="g1"}')).toBe(2);
    expect(s.get('jobreactor_node_ready_jobs{node="g1"}')).toBe(3);
    expect(s.get('jobreactor_node_scheduled_jobs{node="g1"}')).toBe(1);
    expect(s.get('jobreactor_node_connections{node="g1"}')).toBe(1);
    expect(s.get('jobreactor_node_paused{node="g1"}')).toBe(0);
    expect(s.has('jobreactor_node_feedback_outbox{node="g1"}')).toBe(true);
    await n.pause();
    expect((await read()).get('jobreactor_node_paused{node="g1"}')).toBe(1);
    await n.resume();
    release();
    await Promise.all(handles.map((h) => h.result));
    await waitUntil(
      async () => (await read()).get('jobreactor_node_feedback_outbox{node="g1"}') === 0,
      5000,
      'the feedbacks acknowledged',
    );
    s = await read();
    expect(s.get('jobreactor_node_running_jobs{node="g1"}')).toBe(0);
    expect(s.get('jobreactor_node_ready_jobs{node="g1"}')).toBe(0);
    await n.stop();
    s = await read();
    expect(s.has('jobreactor_node_running_jobs{node="g1"}')).toBe(false);
    // Its counters stay: a restarted node in the same registry adds to them.
    expect(s.has('jobreactor_node_jobs_started_total{name="held",node="g1"}')).toBe(true);
  });

  it('off: /metrics is 404; a registry must look like one; one registry per distributor', async () => {
    const d = await startDistributor({ http: {} });
    open.push(d);
    const r = await call(`http://127.0.0.1:${d.httpAddress!.port}/metrics`);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('JR_ERR_NOT_FOUND');
    await expect(startDistributor({ metrics: {} as never })).rejects.toThrow(InvalidArgumentError);
    const shared = new Registry();
    open.push(await startDistributor({ metrics: shared }));
    await expect(startDistributor({ metrics: shared })).rejects.toThrow(/a Registry of its own/);
  });

  it('a CLI node serves /metrics with --metrics: its job counters and the process defaults', async () => {
    const d = await startDistributor({});
    open.push(d);
    const port = await unusedPort();
    const proc = spawnNode({
      name: 'cli-metrics',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url)),
      extra: ['--metrics', `127.0.0.1:${port}`],
    });
    open.push({
      stop: async () => {
        proc.kill('SIGTERM');
        await proc.exited;
      },
    });
    await waitUntil(() => d.nodes().length === 1, 15_000, 'the CLI node');
    await d.enqueue('it.echo', { text: 'hi' }).result;
    const r = await call(`http://127.0.0.1:${port}/metrics`);
    expect(r.status).toBe(200);
    const s = parse(r.text);
    expect(s.get('jobreactor_node_jobs_succeeded_total{name="it.echo",node="cli-metrics"}')).toBe(
      1,
    );
    expect(s.has('process_cpu_user_seconds_total')).toBe(true);
    expect((await call(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
