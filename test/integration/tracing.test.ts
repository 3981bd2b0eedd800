// OpenTelemetry traces: a real distributor and nodes over TCP, spans captured with the SDK's
// in-memory exporter (registered globally here, as an application's setup would).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  JobRegistry,
  startDistributor,
  startNode,
  type DistributorOptions,
  type JobRecord,
  type NodeOptions,
  type WorkerNode,
} from '../../src/index.ts';
import { spawnNode } from '../helpers/node-process.ts';
import { rawSpec, startRawDistributor } from '../helpers/raw-distributor.ts';
import { waitUntil } from '../helpers/wait.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();
const tracer = () => trace.getTracer('tracing-test');

function registerSdk(): void {
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}
function unregisterSdk(): void {
  trace.disable();
  propagation.disable();
}

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  registerSdk();
});
afterAll(async () => {
  unregisterSdk();
  context.disable();
  await provider.shutdown();
});

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
beforeEach(() => exporter.reset());
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

const jobs = new JobRegistry();
jobs.define('tr.echo', (args: { n?: number }) => {
  // A job's own span: it must nest under the attempt's.
  tracer().startSpan('job.inner').end();
  return { doubled: (args.n ?? 0) * 2 };
});
jobs.define('tr.async', async () => {
  await new Promise((r) => setTimeout(r, 5));
  tracer().startSpan('job.after-await').end();
});
jobs.define('tr.fail', () => {
  throw new Error('boom');
});
jobs.define('tr.tick', () => undefined);

const spans = (name?: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name);
const one = (name: string): ReadableSpan => {
  const found = spans(name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
};
const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const traceOf = (s: ReadableSpan) => s.spanContext().traceId;

async function cluster(
  dOpts: DistributorOptions = { tracing: true },
  nOpts: Partial<NodeOptions> = { tracing: true },
): Promise<{ d: Awaited<ReturnType<typeof startDistributor>>; node: WorkerNode }> {
  const d = await startDistributor({ port: 0, ...dOpts });
  open.push(d);
  const node = await startNode({
    name: 'tracer-1',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry: jobs,
    retryMultiplier: 0,
    ...nOpts,
  });
  open.push(node);
  await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
  return { d, node };
}

describe('tracing - OpenTelemetry spans', () => {
  it('tracing - enqueue in an app span: send (child) → process (same trace, parent and link) → job span nested → settle around onSuccess', async () => {
    const { d } = await cluster();
    const handle = tracer().startActiveSpan('app.request', (app) => {
      const h = d.enqueue('tr.echo', { n: 21 }, {}, () => {
        tracer().startSpan('app.onSuccess').end();
      });
      app.end();
      return h;
    });
    expect((await handle.result).doubled).toBe(42);
    await waitUntil(() => spans('app.onSuccess').length === 1, 5000, 'the settle span');
    await waitUntil(() => spans('settle tr.echo').length === 1, 5000, 'the settle span');

    const app = one('app.request');
    const send = one('send tr.echo');
    const proc = one('process tr.echo');
    const inner = one('job.inner');
    const settle = one('settle tr.echo');
    const onSuccess = one('app.onSuccess');

    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.parentSpanContext?.spanId).toBe(idOf(app));
    expect(send.attributes).toMatchObject({
      'messaging.system': 'jobreactor',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'tr.echo',
      'messaging.message.id': handle.id,
      'messaging.jobreactor.distributor': d.id,
    });

    expect(proc.kind).toBe(SpanKind.CONSUMER);
    expect(traceOf(proc)).toBe(traceOf(app));
    expect(proc.parentSpanContext?.spanId).toBe(idOf(send));
    expect(proc.links.map((l) => l.context.spanId)).toEqual([idOf(send)]);
    expect(proc.attributes).toMatchObject({
      'messaging.system': 'jobreactor',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'tr.echo',
      'messaging.message.id': handle.id,
      'messaging.jobreactor.attempt': 1,
      'messaging.jobreactor.delivery': 1,
      'messaging.jobreactor.node': 'tracer-1',
      'messaging.jobreactor.outcome': 'success',
    });
    expect(proc.status.code).toBe(SpanStatusCode.UNSET);

    expect(inner.parentSpanContext?.spanId).toBe(idOf(proc));
    expect(traceOf(inner)).toBe(traceOf(app));

    expect(settle.kind).toBe(SpanKind.INTERNAL);
    expect(settle.parentSpanContext?.spanId).toBe(idOf(send));
    expect(settle.attributes).toMatchObject({
      'messaging.operation.type': 'settle',
      'messaging.message.id': handle.id,
      'messaging.jobreactor.node': 'tracer-1',
      'messaging.jobreactor.outcome': 'success',
      'messaging.jobreactor.final': true,
    });
    expect(onSuccess.parentSpanContext?.spanId).toBe(idOf(settle));
  });

  it('tracing - an async job: spans after an await still nest under the attempt', async () => {
    const { d } = await cluster();
    await d.enqueue('tr.async', {}).result;
    await waitUntil(() => spans('process tr.async').length === 1, 5000, 'the attempt');
    expect(one('job.after-await').parentSpanContext?.spanId).toBe(idOf(one('process tr.async')));
    // Enqueued outside any span: the send span is a root, and the trace is still one.
    expect(one('send tr.async').parentSpanContext).toBeUndefined();
    expect(traceOf(one('process tr.async'))).toBe(traceOf(one('send tr.async')));
  });

  it('tracing - a failing job with retries: one span per attempt with error status and the exception, an error settle', async () => {
    const { d } = await cluster();
    const failed = d.enqueue('tr.fail', {}, { maxAttempt: 3, retryMultiplier: 0 }).result;
    await expect(failed).rejects.toMatchObject({ code: 'JR_ERR_JOB_FAILED' });
    await waitUntil(() => spans('settle tr.fail').length === 1, 5000, 'the settle span');
    const send = one('send tr.fail');
    const attempts = spans('process tr.fail');
    expect(attempts.map((s) => s.attributes['messaging.jobreactor.attempt'])).toEqual([1, 2, 3]);
    for (const a of attempts) {
      expect(a.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'boom' });
      expect(a.attributes['error.type']).toBe('JR_ERR_JOB_THREW');
      expect(a.attributes['messaging.jobreactor.outcome']).toBe('error');
      expect(a.events.map((e) => e.name)).toEqual(['exception']);
      expect(a.events[0]!.attributes?.['exception.message']).toBe('boom');
      expect(a.parentSpanContext?.spanId).toBe(idOf(send));
    }
    expect(new Set(attempts.map(idOf)).size).toBe(3);
    const settle = one('settle tr.fail');
    expect(settle.status.code).toBe(SpanStatusCode.ERROR);
    expect(settle.attributes).toMatchObject({
      'messaging.jobreactor.outcome': 'error',
      'messaging.jobreactor.attempt': 3,
      'error.type': 'JR_ERR_JOB_THREW',
    });
  });

  it('tracing - a period job: each run its own attempt span and settle span, in the enqueue trace', async () => {
    const { d } = await cluster();
    const runs: number[] = [];
    const h = d.enqueue('tr.tick', {}, { period: '30ms', limit: 3 }, (_args, info) => {
      runs.push(info.runs ?? 0);
    });
    await h.result;
    await waitUntil(() => spans('settle tr.tick').length === 3, 5000, 'three settles');
    const send = one('send tr.tick');
    const procs = spans('process tr.tick');
    expect(procs.map((s) => s.attributes['messaging.jobreactor.run'])).toEqual([1, 2, 3]);
    expect(procs.every((s) => s.parentSpanContext?.spanId === idOf(send))).toBe(true);
    const settles = spans('settle tr.tick');
    expect(settles.map((s) => s.attributes['messaging.jobreactor.final'])).toEqual([
      false,
      false,
      true,
    ]);
    expect(settles.every((s) => traceOf(s) === traceOf(send))).toBe(true);
  });

  it('tracing - enqueueMany: one send span for the call, its context in every job', async () => {
    const { d } = await cluster();
    const hs = d.enqueueMany([
      { job: 'tr.echo', args: { n: 1 } },
      { job: 'tr.echo', args: { n: 2 } },
    ]);
    await Promise.all(hs.map((h) => h.result));
    await waitUntil(() => spans('settle tr.echo').length === 2, 5000, 'two settles');
    const send = one('send tr.echo');
    expect(send.attributes['messaging.batch.message_count']).toBe(2);
    expect(send.attributes['messaging.message.id']).toBeUndefined();
    const procs = spans('process tr.echo');
    expect(procs.map((s) => s.attributes['messaging.message.id']).sort()).toEqual(
      hs.map((h) => h.id).sort(),
    );
    expect(procs.every((s) => s.parentSpanContext?.spanId === idOf(send))).toBe(true);
  });

  it('tracing - an enqueue that throws: the send span records the error', async () => {
    const { d } = await cluster();
    expect(() => d.enqueue('tr.echo', { when: new Date() } as never)).toThrow(InvalidArgumentError);
    const send = one('send tr.echo');
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toBe('JR_ERR_INVALID_ARGUMENT');
  });

  it('tracing - off (the default): no span of ours and no carrier in the job, with an SDK registered', async () => {
    const { d, node } = await cluster({}, {});
    const started: JobRecord[] = [];
    node.on('job:start', (r) => started.push(r));
    await tracer().startActiveSpan('app.request', async (app) => {
      await d.enqueue('tr.echo', {}).result;
      app.end();
    });
    expect(spans().map((s) => s.name)).toEqual(['job.inner', 'app.request']);
    expect(started).toHaveLength(1);
    expect(started[0]!.trace).toBeUndefined();
  });

  it('tracing - on with no SDK registered: no carrier is serialized into the job, and no span', async () => {
    unregisterSdk();
    try {
      const { d, node } = await cluster();
      const started: JobRecord[] = [];
      node.on('job:start', (r) => started.push(r));
      await d.enqueue('tr.echo', {}).result;
      expect(started[0]!.trace).toBeUndefined();
    } finally {
      registerSdk();
    }
    expect(spans()).toEqual([]);
  });

  it('tracing - the distributor on, the node off: the job carries the context, the node makes no span', async () => {
    const { d, node } = await cluster({ tracing: true }, {});
    const started: JobRecord[] = [];
    node.on('job:start', (r) => started.push(r));
    await d.enqueue('tr.echo', {}).result;
    await waitUntil(() => spans('settle tr.echo').length === 1, 5000, 'the settle span');
    expect(started[0]!.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(spans('process tr.echo')).toEqual([]);
    // The job's own span has no attempt span to nest under: a root of its own.
    expect(one('job.inner').parentSpanContext).toBeUndefined();
  });

  it('tracing - the node on, the distributor off: each attempt is a root span with its attributes', async () => {
    const { d } = await cluster({}, { tracing: true });
    const h = d.enqueue('tr.echo', {});
    await h.result;
    await waitUntil(() => spans('process tr.echo').length === 1, 5000, 'the attempt');
    const proc = one('process tr.echo');
    expect(proc.parentSpanContext).toBeUndefined();
    expect(proc.links).toEqual([]);
    expect(proc.attributes).toMatchObject({
      'messaging.system': 'jobreactor',
      'messaging.message.id': h.id,
      'messaging.jobreactor.outcome': 'success',
    });
    expect(one('job.inner').parentSpanContext?.spanId).toBe(idOf(proc));
    expect(spans('send tr.echo')).toEqual([]);
  });

  it('tracing - a bad option is refused at construction', async () => {
    await expect(startDistributor({ tracing: { provider: {} } as never })).rejects.toThrow(
      /unknown tracing option 'provider'/,
    );
    await expect(startDistributor({ tracing: 'yes' as never })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      startNode({
        name: 'x',
        distributors: [],
        tracing: { tracerProvider: {} as never },
      }),
    ).rejects.toThrow(/TracerProvider/);
  });

  it('tracing - a tracerProvider and propagator passed in the option, no globals', async () => {
    unregisterSdk();
    const local = new InMemorySpanExporter();
    const own = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(local)] });
    const tracing = { tracerProvider: own, propagator: new W3CTraceContextPropagator() };
    try {
      const { d } = await cluster({ tracing }, { tracing });
      await d.enqueue('tr.echo', {}).result;
      await waitUntil(
        () => local.getFinishedSpans().some((s) => s.name === 'settle tr.echo'),
        5000,
        'the settle span',
      );
    } finally {
      registerSdk();
    }
    const byName = new Map(local.getFinishedSpans().map((s) => [s.name, s]));
    expect(byName.get('process tr.echo')?.parentSpanContext?.spanId).toBe(
      byName.get('send tr.echo')?.spanContext().spanId,
    );
    await own.shutdown();
  });

  it('tracing - hostile carriers (not an object, huge, many keys, garbage traceparent): every attempt runs, no crash', async () => {
    const evil = await startRawDistributor({ id: 'evil' });
    open.push(evil);
    const node = await startNode({
      name: 'tracer-h',
      distributors: [`127.0.0.1:${evil.port}`],
      registry: jobs,
      tracing: true,
    });
    open.push(node);
    await waitUntil(() => evil.connected(), 5000, 'the link');
    const parentTrace = '0af7651916cd43dd8448eb211c80319c';
    const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
    const carriers: Record<string, unknown> = {
      number: 42,
      array: ['traceparent'],
      huge: { traceparent: 'x'.repeat(100_000) },
      many,
      nonString: { traceparent: 7, tracestate: { a: 1 } },
      garbage: { traceparent: 'garbage' },
      badKey: { 'trace parent\n': '00-x' },
      valid: { traceparent: `00-${parentTrace}-b7ad6b7169203331-01` },
    };
    for (const [id, trace] of Object.entries(carriers)) {
      evil.sendJob(rawSpec(id, 'tr.echo', 'evil', { trace } as never));
    }
    await waitUntil(
      () => evil.feedbacks.length >= Object.keys(carriers).length,
      5000,
      'a feedback for each',
    );
    expect(evil.feedbacks.every((f) => f.outcome === 'success')).toBe(true);
    expect(evil.messages.some((m) => m.t === 'error')).toBe(false);
    const procs = new Map(
      spans('process tr.echo').map((s) => [s.attributes['messaging.message.id'], s]),
    );
    expect(procs.size).toBe(Object.keys(carriers).length);
    for (const id of Object.keys(carriers).filter((k) => k !== 'valid')) {
      expect(procs.get(id)?.parentSpanContext, id).toBeUndefined();
      expect(procs.get(id)?.links, id).toEqual([]);
    }
    const valid = procs.get('valid')!;
    expect(traceOf(valid)).toBe(parentTrace);
    expect(valid.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(valid.links[0]?.context.traceId).toBe(parentTrace);
  });

  it('tracing - a durable node keeps the carrier: an attempt after a restart is still in the trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jr-trace-lmdb-'));
    try {
      const d = await startDistributor({ port: 0, tracing: true });
      open.push(d);
      const nodeOpts = {
        name: 'tracer-lmdb',
        distributors: [`127.0.0.1:${d.address.port}`],
        registry: jobs,
        storage: `lmdb:${dir}`,
        tracing: true,
      } as const;
      const first = await startNode(nodeOpts);
      await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
      const h = d.enqueue('tr.echo', { n: 4 }, { after: 0.5 });
      await h.accepted;
      await first.stop();
      expect(spans('process tr.echo')).toEqual([]);
      const second = await startNode(nodeOpts);
      open.push(second);
      expect((await h.result).doubled).toBe(8);
      await waitUntil(() => spans('process tr.echo').length === 1, 5000, 'the attempt');
      const proc = one('process tr.echo');
      expect(proc.parentSpanContext?.spanId).toBe(idOf(one('send tr.echo')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tracing - a CLI node in its own process (--tracing, an SDK loaded with node --import): the trace id crosses processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jr-trace-cli-'));
    const file = join(dir, 'spans.jsonl');
    const setup = fileURLToPath(new URL('../fixtures/tracing/otel-setup.mjs', import.meta.url));
    const jobDir = fileURLToPath(new URL('../fixtures/tracing-jobs/', import.meta.url));
    try {
      const d = await startDistributor({ port: 0, tracing: true });
      open.push(d);
      const child = spawnNode({
        name: 'tracer-cli',
        distributors: [`127.0.0.1:${d.address.port}`],
        jobs: jobDir,
        extra: ['--tracing'],
        env: { NODE_OPTIONS: `--import ${pathToFileURL(setup).href}`, JR_SPANS_FILE: file },
      });
      open.push({
        close: async () => {
          child.kill();
          await child.exited;
        },
      });
      await waitUntil(() => d.nodes().length === 1, 15_000, `the CLI node (${child.stderr()})`);
      const h = tracer().startActiveSpan('app.request', (app) => {
        const handle = d.enqueue('tr.child', { n: 5 });
        app.end();
        return handle;
      });
      expect((await h.result).seen).toBe(5);
      type Line = {
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        links: string[];
        attributes: Record<string, unknown>;
      };
      const lines = (): Line[] =>
        existsSync(file)
          ? readFileSync(file, 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Line)
          : [];
      await waitUntil(() => lines().length >= 2, 5000, 'the child process spans');
      const byName = new Map(lines().map((l) => [l.name, l]));
      const proc = byName.get('process tr.child')!;
      const send = one('send tr.child');
      expect(proc.traceId).toBe(traceOf(one('app.request')));
      expect(proc.parentSpanId).toBe(idOf(send));
      expect(proc.links).toEqual([idOf(send)]);
      expect(proc.attributes['messaging.jobreactor.node']).toBe('tracer-cli');
      expect(byName.get('child.inner')?.parentSpanId).toBe(proc.spanId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
