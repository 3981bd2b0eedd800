import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { systemClock, type Clock } from '../../../src/model/clock.ts';
import { silentLogger } from '../../../src/model/logger.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import {
  NODE_DEFAULTS,
  resolveNodeOptions,
  type NodeOptions,
} from '../../../src/node/node-options.ts';

const base = { name: 'n1', distributors: ['127.0.0.1:7001'] } satisfies NodeOptions;

describe('node options', () => {
  it('node options - every default comes from NODE_DEFAULTS', () => {
    const o = resolveNodeOptions(base);
    expect(o).toMatchObject({
      name: 'n1',
      distributors: [{ host: '127.0.0.1', port: 7001 }],
      storage: 'memory',
      concurrency: NODE_DEFAULTS.concurrency,
      prefetch: NODE_DEFAULTS.prefetch,
      prefetchBytes: NODE_DEFAULTS.prefetchBytes,
      window: NODE_DEFAULTS.concurrency + NODE_DEFAULTS.prefetch,
      rules: {
        maxAttempt: NODE_DEFAULTS.maxAttempt,
        retryMultiplier: NODE_DEFAULTS.retryMultiplier,
        removeDoneJobs: NODE_DEFAULTS.removeDoneJobs,
        removeCancelledJobs: NODE_DEFAULTS.removeCancelledJobs,
        removeFailedJobs: NODE_DEFAULTS.removeFailedJobs,
      },
      mergeJobItselfToArgs: NODE_DEFAULTS.mergeJobItselfToArgs,
      retryJobsAtStart: NODE_DEFAULTS.retryJobsAtStart,
      maxDeliveries: NODE_DEFAULTS.maxDeliveries,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      heartbeatMs: NODE_DEFAULTS.heartbeatMs,
      linkLeaseMs: NODE_DEFAULTS.linkLeaseHeartbeats * NODE_DEFAULTS.heartbeatMs,
      handshakeTimeoutMs: NODE_DEFAULTS.handshakeTimeoutMs,
      blockWarnMs: NODE_DEFAULTS.blockWarnMs,
      maxPendingFeedbacks: NODE_DEFAULTS.maxPendingFeedbacks,
      feedbackMaxAgeMs: 7 * 86_400_000, // NODE_DEFAULTS.feedbackMaxAge, '7d'
      paused: false,
      tracing: undefined,
      clock: systemClock,
      ownClock: false,
      logger: silentLogger,
    });
  });

  it('node options - feedbackMaxAge: seconds, a duration string, or Infinity', () => {
    const ms = (feedbackMaxAge: number | string) =>
      resolveNodeOptions({ ...base, feedbackMaxAge }).feedbackMaxAgeMs;
    expect(ms(90)).toBe(90_000);
    expect(ms('12h')).toBe(12 * 3_600_000);
    expect(ms(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });

  it('node options - given values win, and the link lease follows the heartbeat', () => {
    const clock: Clock = { ...systemClock };
    const o = resolveNodeOptions({
      ...base,
      distributors: ['[::1]:7003', { host: 'h', port: 2 }],
      concurrency: 3,
      prefetch: 0,
      maxAttempt: 2,
      removeFailedJobs: true,
      heartbeatMs: 50,
      maxDeliveries: 1,
      paused: true,
      tracing: true,
      clock,
    });
    expect(o.distributors).toEqual([
      { host: '::1', port: 7003 },
      { host: 'h', port: 2 },
    ]);
    expect(o).toMatchObject({ concurrency: 3, prefetch: 0, window: 3, maxDeliveries: 1 });
    expect(o.rules).toMatchObject({ maxAttempt: 2, removeFailedJobs: true });
    expect(o.linkLeaseMs).toBe(100);
    expect(o.paused).toBe(true);
    expect(o.tracing).toEqual({ tracerProvider: undefined, propagator: undefined });
    expect(o.clock).toBe(clock);
    expect(o.ownClock).toBe(true);
    expect(resolveNodeOptions({ ...base, linkLeaseMs: 7 }).linkLeaseMs).toBe(7);
    expect(resolveNodeOptions({ ...base, redisConnectTimeoutMs: 300 }).redisConnectTimeoutMs).toBe(
      300,
    );
  });

  it.each([
    [{ concurrency: 0 }, 'concurrency must be a whole number ≥ 1'],
    [{ concurrency: 1.5 }, 'concurrency must be a whole number ≥ 1'],
    [{ prefetch: -1 }, 'prefetch must be a whole number ≥ 0'],
    [{ prefetchBytes: 0 }, 'prefetchBytes must be a whole number ≥ 1'],
    [{ maxDeliveries: 0 }, 'maxDeliveries must be a whole number ≥ 1'],
    [{ maxPendingFeedbacks: Number.NaN }, 'maxPendingFeedbacks must be a whole number ≥ 1'],
    [{ linkLeaseMs: 0 }, 'linkLeaseMs must be a number > 0'],
    [{ blockWarnMs: -1 }, 'blockWarnMs must be a number of ms ≥ 0'],
    [{ feedbackMaxAge: 0 }, 'feedbackMaxAge must be longer than 0'],
    [{ feedbackMaxAge: -5 }, 'feedbackMaxAge must be a finite duration'],
    [{ feedbackMaxAge: 'a week' }, 'feedbackMaxAge must be seconds or a duration'],
    [{ maxAttempt: 0 }, 'maxAttempt'],
    [{ retryMultiplier: -1 }, 'retryMultiplier'],
    [{ paused: 'yes' }, 'paused must be a boolean'],
    [{ distributors: 'h:1' }, 'distributors must be a list'],
    [{ distributors: ['nohost'] }, 'distributor address must be host:port'],
    [{ name: '' }, 'node name'],
    [{ concurency: 2 }, 'concurency'],
  ])('node options - %o is refused with InvalidArgumentError', (bad, message) => {
    const options = { ...base, ...bad } as unknown as NodeOptions;
    expect(() => resolveNodeOptions(options)).toThrow(InvalidArgumentError);
    expect(() => resolveNodeOptions(options)).toThrow(message);
  });
});
