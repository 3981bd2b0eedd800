import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/errors.ts';
import type { Feedback, JobArgs, JobSpec } from '../../../src/model/job.ts';
import { wireForm } from '../../../src/protocol/codec.ts';
import {
  argsProblem,
  MAX_ARGS_DEPTH,
  SHARED_CHECK_AFTER,
  validateMessage,
} from '../../../src/protocol/validate.ts';
import { feedbackTuple, jobTuple } from '../../../src/protocol/wire-forms.ts';
import { bigMessage, sampleJob, sampleMessages } from './sample-messages.ts';

function errorOf(value: unknown): ProtocolError {
  try {
    validateMessage(value);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new ProtocolError(`expected a rejection of ${JSON.stringify(value)}`);
}

function nest(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

/** A valid hello with `extra` over it (a field set to undefined is left out). */
function hello(extra: Record<string, unknown>): Record<string, unknown> {
  const m: Record<string, unknown> = {
    t: 'hello',
    v: 3,
    node: 'n',
    instance: 'i',
    capacity: 1,
    window: 2,
    windowBytes: 100,
    durable: true,
    jobs: [],
    nonce: 'x',
    ...extra,
  };
  for (const [k, v] of Object.entries(m)) if (v === undefined) delete m[k];
  return m;
}

describe('validate', () => {
  it('validate - accepts every sample message and returns it', () => {
    // Batched kinds come in as tuples and out as objects; the others are returned as they are.
    for (const m of [...sampleMessages, bigMessage]) {
      if (m.t === 'jobs' || m.t === 'feedbacks') expect(validateMessage(wireForm(m))).toEqual(m);
      else expect(validateMessage(m)).toBe(m);
    }
  });

  it('validate - rejections name the field', () => {
    const job = (patch: Record<string, unknown>) => jobsWire({ ...sampleJob, ...patch });
    const fbw = (patch: Record<string, unknown>) => ({
      t: 'feedbacks',
      f: [feedbackTuple({ ...sampleFb(), ...patch })],
    });
    const cases: Array<[unknown, string]> = [
      [null, 'message'],
      [[], 'message'],
      [{ t: 'warp' }, 't'],
      [{ t: 'ping', id: -1 }, 'ping.id'],
      [{ t: 'pong', id: 'x' }, 'pong.id'],
      [{ t: 'progress', ids: ['a'], values: [] }, 'progress.values'],
      [{ t: 'progress', ids: ['a'], values: [Number.NaN] }, 'progress.values[0]'],
      [{ t: 'progress', ids: ['a'], values: ['text'] }, 'progress.values[0]'],
      [{ t: 'query', req: -1 }, 'query.req'],
      [{ t: 'query', req: 1, list: { limit: 0 } }, 'query.list.limit'],
      [{ t: 'query', req: 1, list: { limit: 5, status: 'failed' } }, 'query.list.status'],
      [{ t: 'query', req: 1, retry: '' }, 'query.retry'],
      [{ t: 'answer', req: 1, jobs: [{ id: 'x' }] }, 'answer.jobs[0].name'],
      [{ t: 'answer', req: 1, retried: 'yes' }, 'answer.retried'],
      [{ t: 'answer', req: 1, counts: { running: 1 } }, 'answer.counts.ready'],
      [{ t: 'answer', req: 1, job: { id: 'x' } }, 'answer.job.name'],
      [{ t: 'permits', ids: ['a'], names: [] }, 'permits.names'],
      [{ t: 'granted', ids: [1] }, 'granted.ids[0]'],
      [{ t: 42 }, 't'],
      [hello({ maxFrame: 512 }), 'hello.maxFrame'],
      [
        { t: 'challenge', v: 3, distributor: 'd', maxFrame: '1mb', nonce: 'x', proof: '' },
        'challenge.maxFrame',
      ],
      [hello({ durable: 'yes' }), 'hello.durable'],
      [hello({ capacity: 1.5 }), 'hello.capacity'],
      [hello({ jobs: ['a', 3] }), 'hello.jobs[1]'],
      [hello({ window: undefined }), 'hello.window'],
      [{ t: 'challenge', v: 1, distributor: 'd', nonce: 'n' }, 'challenge.proof'],
      [{ t: 'auth' }, 'auth.proof'],
      [{ t: 'jobs' }, 'jobs.j'],
      [{ t: 'jobs', j: [['id', 'name', {}, 1, 2]] }, 'jobs.j[0]'],
      [{ t: 'jobs', j: [{ ...sampleJob }] }, 'jobs.j[0]'],
      [{ t: 'jobs', j: [['id', 'name', {}, 1, 2, 1, 'opts']] }, 'jobs.j[0][6]'],
      [job({ id: '' }), 'jobs.j[0].id'],
      [job({ name: 5 }), 'jobs.j[0].name'],
      [job({ args: [] }), 'jobs.j[0].args'],
      [job({ enqueuedAt: Number.NaN }), 'jobs.j[0].enqueuedAt'],
      [job({ runAt: Number.POSITIVE_INFINITY }), 'jobs.j[0].runAt'],
      [job({ period: 0 }), 'jobs.j[0].period'],
      [job({ delivery: -1 }), 'jobs.j[0].delivery'],
      [job({ backoff: { type: 'random', delay: 1 } }), 'jobs.j[0].backoff.type'],
      [job({ backoff: { type: 'exponential', delay: 1, jitter: 2 } }), 'jobs.j[0].backoff.jitter'],
      [job({ defer: 1 }), 'jobs.j[0].defer'],
      [job({ crashedOn: [1] }), 'jobs.j[0].crashedOn[0]'],
      [job({ args: { deep: { list: [1, { f: () => 1 }] } } }), 'jobs.j[0].args.deep.list[1].f'],
      [job({ args: { d: new Date() } }), 'jobs.j[0].args.d'],
      [job({ args: { n: 1n } }), 'jobs.j[0].args.n'],
      // A later item is named by its own index (the path is built only for the refusal).
      [
        { t: 'jobs', j: [jobTuple(sampleJob), jobTuple({ ...sampleJob, args: { a: [1n] } })] },
        'jobs.j[1].args.a[0]',
      ],
      [
        {
          t: 'feedbacks',
          f: [
            feedbackTuple(sampleFb()),
            feedbackTuple(sampleFb()),
            feedbackTuple({ ...sampleFb(), attempt: -1 }),
          ],
        },
        'feedbacks.f[2].attempt',
      ],
      [{ t: 'accepted', ids: 'a' }, 'accepted.ids'],
      [{ t: 'rejected', ids: [], error: { name: 'E', code: 'C' } }, 'rejected.error.message'],
      [{ t: 'credit', n: '3' }, 'credit.n'],
      [{ t: 'feedbacks', f: 'x' }, 'feedbacks.f'],
      [{ t: 'feedbacks', f: [['j', 4, 1]] }, 'feedbacks.f[0]'],
      [{ t: 'feedbacks', f: [['j', 3, 1, {}]] }, 'feedbacks.f[0][1]'],
      [{ t: 'feedbacks', f: [['j', 32, 1, {}]] }, 'feedbacks.f[0][1]'],
      [{ t: 'feedbacks', f: [['j', 4, 1, {}, []]] }, 'feedbacks.f[0][4]'],
      [{ t: 'feedbacks', f: [['', 4, 1, {}]] }, 'feedbacks.f[0].key'],
      [fbw({ args: null }), 'feedbacks.f[0].args'],
      [fbw({ attempt: -1 }), 'feedbacks.f[0].attempt'],
      [fbw({ next: 'soon' }), 'feedbacks.f[0].next'],
      [fbw({ error: { name: 'E' } }), 'feedbacks.f[0].error.code'],
      [{ t: 'fback', keys: [1] }, 'fback.keys[0]'],
      [{ t: 'cancel', id: 'x' }, 'cancel.req'],
      [{ t: 'cancelled', req: 1, ok: 'no' }, 'cancelled.ok'],
      [{ t: 'status', accepting: 1, jobs: [] }, 'status.accepting'],
      [{ t: 'status', accepting: true }, 'status.jobs'],
      [{ t: 'error', error: 'boom' }, 'error.error'],
      [
        { t: 'error', error: { name: 'E', code: 'C', message: 'm', details: { x: new Set() } } },
        'error.error.details.x',
      ],
    ];
    for (const [value, field] of cases) {
      expect(errorOf(value).message, field).toContain(`${field} `);
    }
  });

  it('validate - forbidden keys anywhere in args', () => {
    const polluting = [
      JSON.parse('{"__proto__": {"polluted": 1}}'),
      { a: [{ b: JSON.parse('{"__proto__": 1}') }] },
      { constructor: { prototype: { polluted: 1 } } },
      { x: { prototype: 1 } },
    ];
    for (const args of polluting) {
      expect(errorOf(jobsWire({ ...sampleJob, args })).message).toMatch(/forbidden key/);
      expect(
        errorOf({ t: 'feedbacks', f: [feedbackTuple({ ...sampleFb(), args })] }).message,
      ).toMatch(/forbidden key/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('validate - args depth is capped', () => {
    expect(() =>
      validateMessage(jobsWire({ ...sampleJob, args: nest(MAX_ARGS_DEPTH) })),
    ).not.toThrow();
    const err = errorOf(jobsWire({ ...sampleJob, args: nest(MAX_ARGS_DEPTH + 1) }));
    expect(err.message).toMatch(/deeper than 64/);
  });

  it('validate - class instances and non-plain roots are rejected', () => {
    class Msg {
      t = 'ping';
    }
    errorOf(new Msg());
    errorOf(jobsWire({ ...sampleJob, args: new Msg() as unknown as JobArgs }));
    expect(validateMessage(Object.assign(Object.create(null), { t: 'ping' }))).toEqual({
      t: 'ping',
    });
  });

  it('validate - peer text in errors is cut short', () => {
    expect(errorOf({ t: 'x'.repeat(10_000) }).message.length).toBeLessThan(200);
  });
});

function sampleFb(): Feedback {
  const m = sampleMessages.find((x) => x.t === 'feedbacks');
  if (m?.t !== 'feedbacks' || m.fbs[0] === undefined) throw new ProtocolError('no sample feedback');
  return m.fbs[0];
}

/** A `jobs` message as it travels, with one job. */
function jobsWire(spec: JobSpec): unknown {
  return { t: 'jobs', j: [jobTuple(spec)] };
}

describe('args problem', () => {
  it('validate - argsProblem names the first value args cannot carry, or nothing', () => {
    expect(
      argsProblem({ a: 1, b: [true, null, 'x'], c: { d: new Uint8Array(2) } }),
    ).toBeUndefined();
    expect(argsProblem({ when: new Date(0) })).toBe(
      'args.when is a Date, which is not plain data: send epoch ms (date.getTime()) or an ISO string (date.toISOString())',
    );
    expect(argsProblem({ m: new Map() })).toMatch(/^args.m is a Map: send a plain object/);
    expect(argsProblem({ s: [new Set()] })).toMatch(/^args.s\[0\] is a Set: send an array/);
    class Money {
      cents = 1;
    }
    expect(argsProblem({ price: new Money() })).toMatch(/^args.price is a Money instance/);
    expect(argsProblem({ list: [1, () => 2] })).toBe(
      'args.list[1] is a function, which is not plain data',
    );
    // A cycle is named once, where it closes, not as 64 repeats of the path.
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    (cyclic.a as { b: Record<string, unknown> }).b.back = cyclic;
    expect(argsProblem(cyclic)).toBe(
      'args.a.b.back refers back to an object that contains it (a cycle): args must be a tree of plain data',
    );
    expect(argsProblem([])).toBe('args must be a plain object');
  });

  it('validate - hostile shapes end in a bounded walk: very deep chains, shared objects, deep cycles', () => {
    // 100,000 levels, no cycle: named as too deep (the cycle search stops at the cap)
    // instead of overflowing the stack (it took the node process down).
    let chain: Record<string, unknown> = {};
    const deep = chain;
    for (let i = 0; i < 100_000; i++) chain = chain.n = {};
    expect(argsProblem(deep)).toMatch(/^args(\.n){64} is nested deeper than 64 levels$/);
    expect(() => validateMessage({ t: 'progress', ids: ['j1'], values: [deep] })).toThrow(
      ProtocolError,
    );

    // The same object in two places at each of 40 levels: 2^40 paths. Refused once the
    // walk has met SHARED_CHECK_AFTER containers and meets one again.
    let shared: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) shared = { a: shared, b: shared };
    expect(argsProblem(shared)).toMatch(/is an object met before: past 10000 objects/);

    // A small graph still passes (msgpack sends it as the tree it spells), and so does a
    // large tree with more containers than SHARED_CHECK_AFTER.
    let small: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 8; i++) small = { a: small, b: small };
    expect(argsProblem(small)).toBeUndefined();
    const wide = { rows: Array.from({ length: SHARED_CHECK_AFTER * 2 }, (_, i) => ({ i })) };
    expect(argsProblem(wide)).toBeUndefined();

    // A cycle below a long shared prefix is still named as a cycle.
    let withCycle: Record<string, unknown> = {};
    const top = withCycle;
    for (let i = 0; i < 30; i++) withCycle = withCycle.n = {};
    withCycle.back = top;
    expect(argsProblem(top)).toMatch(/back refers back to an object that contains it \(a cycle\)/);
  });
});
