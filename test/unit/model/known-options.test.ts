import { describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError } from '../../../src/errors.ts';
import { assertKnownOptions } from '../../../src/model/known-options.ts';
import { buildJobSpec } from '../../../src/distributor/enqueue-options.ts';
import { Distributor } from '../../../src/distributor/distributor.ts';
import { WorkerNode } from '../../../src/node/worker-node.ts';

const known = { after: true, maxAttempt: true, period: true } as const;

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe(ErrorCodes.InvalidArgument);
    return (err as Error).message;
  }
  throw new Error('expected a throw');
}

function enqueueWith(options: object): string {
  return messageOf(() =>
    buildJobSpec({ name: 'j', args: {}, options, id: 'id-1', distributor: 'd', now: 1000 }),
  );
}

describe('known options', () => {
  it('known options - known keys pass, inherited ones are not looked at', () => {
    expect(() => assertKnownOptions({ after: 1, maxAttempt: 2 }, known, 'test')).not.toThrow();
    expect(() => assertKnownOptions(Object.create({ delay: 1 }), known, 'test')).not.toThrow();
  });

  it('known options - a peer name gets its hint, a near miss a suggestion, others the list', () => {
    expect(
      messageOf(() => assertKnownOptions({ delay: 1 }, known, 'test', { delay: "use 'after'" })),
    ).toBe("unknown test option 'delay': use 'after'");
    expect(messageOf(() => assertKnownOptions({ maxattempt: 1 }, known, 'test'))).toBe(
      "unknown test option 'maxattempt': did you mean 'maxAttempt'?",
    );
    expect(messageOf(() => assertKnownOptions({ perod: 1 }, known, 'test'))).toContain(
      "did you mean 'period'?",
    );
    expect(messageOf(() => assertKnownOptions({ zzz: 1 }, known, 'test'))).toBe(
      "unknown test option 'zzz' (known: after, maxAttempt, period)",
    );
  });

  it('known options - enqueue names what to use for BullMQ and Bee-Queue names', () => {
    expect(enqueueWith({ delay: 2000 })).toContain("'delay': use 'after'");
    expect(enqueueWith({ attempts: 3 })).toContain("use 'maxAttempt'");
    expect(enqueueWith({ maxAttempts: 3 })).toContain("use 'maxAttempt'");
    expect(enqueueWith({ jobId: 'x' })).toContain("use 'id'");
    expect(enqueueWith({ repeat: { every: 1000 } })).toContain("'period' (repeat.every)");
    expect(enqueueWith({ repeat: { pattern: '* * * * *' } })).toContain("'cron' (repeat.pattern)");
    expect(enqueueWith({ maxAtempt: 3 })).toContain("did you mean 'maxAttempt'?");
  });

  it('known options - node and distributor options are checked too', () => {
    expect(
      messageOf(() => new WorkerNode({ name: 'n', distributors: [], connection: {} } as never)),
    ).toContain("unknown node option 'connection': use 'storage'");
    expect(
      messageOf(() => new WorkerNode({ name: 'n', distributors: [], concurency: 2 } as never)),
    ).toContain("did you mean 'concurrency'?");
    expect(messageOf(() => new Distributor({ heartbeat: 1 } as never))).toContain(
      "unknown distributor option 'heartbeat': did you mean 'heartbeatMs'?",
    );
  });
});
