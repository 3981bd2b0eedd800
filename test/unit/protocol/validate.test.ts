import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/errors.ts';
import { argsProblem, MAX_ARGS_DEPTH, validateMessage } from '../../../src/protocol/validate.ts';
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

describe('validate', () => {
  it('validate - accepts every sample message and returns it', () => {
    for (const m of [...sampleMessages, bigMessage]) expect(validateMessage(m)).toBe(m);
  });

  it('validate - rejections name the field', () => {
    const job = (patch: Record<string, unknown>) => ({ t: 'job', job: { ...sampleJob, ...patch } });
    const cases: Array<[unknown, string]> = [
      [null, 'message'],
      [[], 'message'],
      [{ t: 'warp' }, 't'],
      [{ t: 'ping', id: -1 }, 'ping.id'],
      [{ t: 'pong', id: 'x' }, 'pong.id'],
      [{ t: 42 }, 't'],
      [
        {
          t: 'hello',
          v: 1,
          node: 'n',
          instance: 'i',
          capacity: 1,
          durable: 'yes',
          jobs: [],
          nonce: 'x',
        },
        'hello.durable',
      ],
      [
        {
          t: 'hello',
          v: 1,
          node: 'n',
          instance: 'i',
          capacity: 1.5,
          durable: true,
          jobs: [],
          nonce: 'x',
        },
        'hello.capacity',
      ],
      [
        {
          t: 'hello',
          v: 1,
          node: 'n',
          instance: 'i',
          capacity: 1,
          durable: true,
          jobs: ['a', 3],
          nonce: 'x',
        },
        'hello.jobs[1]',
      ],
      [{ t: 'challenge', v: 1, distributor: 'd', nonce: 'n' }, 'challenge.proof'],
      [{ t: 'auth' }, 'auth.proof'],
      [{ t: 'job' }, 'job.job'],
      [job({ id: '' }), 'job.job.id'],
      [job({ name: 5 }), 'job.job.name'],
      [job({ distributor: undefined }), 'job.job.distributor'],
      [job({ args: [] }), 'job.job.args'],
      [job({ enqueuedAt: Number.NaN }), 'job.job.enqueuedAt'],
      [job({ runAt: Number.POSITIVE_INFINITY }), 'job.job.runAt'],
      [job({ period: 0 }), 'job.job.period'],
      [job({ delivery: -1 }), 'job.job.delivery'],
      [job({ backoff: { type: 'random', delay: 1 } }), 'job.job.backoff.type'],
      [job({ backoff: { type: 'exponential', delay: 1, jitter: 2 } }), 'job.job.backoff.jitter'],
      [job({ defer: 1 }), 'job.job.defer'],
      [job({ args: { deep: { list: [1, { f: () => 1 }] } } }), 'job.job.args.deep.list[1].f'],
      [job({ args: { d: new Date() } }), 'job.job.args.d'],
      [job({ args: { n: 1n } }), 'job.job.args.n'],
      [{ t: 'accepted', ids: 'a' }, 'accepted.ids'],
      [{ t: 'rejected', ids: [], error: { name: 'E', code: 'C' } }, 'rejected.error.message'],
      [{ t: 'credit', n: '3' }, 'credit.n'],
      [{ t: 'feedback', fb: { ...sampleFb(), outcome: 'meh' } }, 'feedback.fb.outcome'],
      [{ t: 'feedback', fb: { ...sampleFb(), final: undefined } }, 'feedback.fb.final'],
      [{ t: 'feedback', fb: { ...sampleFb(), args: null } }, 'feedback.fb.args'],
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
      expect(errorOf({ t: 'job', job: { ...sampleJob, args } }).message).toMatch(/forbidden key/);
      expect(errorOf({ t: 'feedback', fb: { ...sampleFb(), args } }).message).toMatch(
        /forbidden key/,
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('validate - args depth is capped', () => {
    expect(() =>
      validateMessage({ t: 'job', job: { ...sampleJob, args: nest(MAX_ARGS_DEPTH) } }),
    ).not.toThrow();
    const err = errorOf({ t: 'job', job: { ...sampleJob, args: nest(MAX_ARGS_DEPTH + 1) } });
    expect(err.message).toMatch(/deeper than 64/);
  });

  it('validate - class instances and non-plain roots are rejected', () => {
    class Msg {
      t = 'ping';
    }
    errorOf(new Msg());
    errorOf({ t: 'job', job: { ...sampleJob, args: new Msg() } });
    expect(validateMessage(Object.assign(Object.create(null), { t: 'ping' }))).toEqual({
      t: 'ping',
    });
  });

  it('validate - peer text in errors is cut short', () => {
    expect(errorOf({ t: 'x'.repeat(10_000) }).message.length).toBeLessThan(200);
  });
});

function sampleFb() {
  const m = sampleMessages.find((x) => x.t === 'feedback');
  if (m?.t !== 'feedback') throw new ProtocolError('no sample feedback');
  return m.fb;
}

describe('args problem', () => {
  it('validate - argsProblem names the first value args cannot carry, or nothing', () => {
    expect(
      argsProblem({ a: 1, b: [true, null, 'x'], c: { d: new Uint8Array(2) } }),
    ).toBeUndefined();
    expect(argsProblem({ when: new Date(0) })).toBe(
      'args.when: only plain objects are allowed (no class instances)',
    );
    expect(argsProblem({ list: [1, () => 2] })).toBe('args.list[1]: a function is not plain data');
    expect(argsProblem([])).toBe('args must be a plain object');
  });
});
