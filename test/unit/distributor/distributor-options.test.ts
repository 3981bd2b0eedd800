import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { systemClock } from '../../../src/model/clock.ts';
import { silentLogger } from '../../../src/model/logger.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import {
  DISTRIBUTOR_DEFAULTS,
  resolveDistributorOptions,
  type DistributorOptions,
} from '../../../src/distributor/distributor-options.ts';

describe('distributor options', () => {
  it('distributor options - every default comes from DISTRIBUTOR_DEFAULTS', () => {
    const o = resolveDistributorOptions();
    expect(o).toMatchObject({
      host: DISTRIBUTOR_DEFAULTS.host,
      port: DISTRIBUTOR_DEFAULTS.port,
      secret: undefined,
      tls: undefined,
      maxWaiting: DISTRIBUTOR_DEFAULTS.maxWaiting,
      unknownJobs: 'fail',
      maxConnections: undefined,
      maxDeliveries: DISTRIBUTOR_DEFAULTS.maxDeliveries,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      heartbeatMs: DISTRIBUTOR_DEFAULTS.heartbeatMs,
      handshakeTimeoutMs: DISTRIBUTOR_DEFAULTS.handshakeTimeoutMs,
      tracing: undefined,
      clock: systemClock,
      logger: silentLogger,
    });
    // A fresh id per distributor unless one is given.
    expect(o.id).toMatch(/^[0-9a-f]{16}$/);
    expect(resolveDistributorOptions().id).not.toBe(o.id);
  });

  it('distributor options - given values win', () => {
    const given = {
      id: 'd1',
      host: '0.0.0.0',
      secret: 's',
      maxWaiting: 0,
      unknownJobs: 'wait',
      maxDeliveries: 1,
      heartbeatMs: 50,
    } as const;
    const o = resolveDistributorOptions({ ...given, tracing: true });
    expect(o).toMatchObject(given);
    expect(o.tracing).toEqual({ tracerProvider: undefined, propagator: undefined });
  });

  it.each([
    [{ maxDeliveries: 0 }, 'maxDeliveries must be a whole number ≥ 1'],
    [{ maxWaiting: -1 }, 'maxWaiting must be a whole number ≥ 0'],
    [{ maxWaiting: 1.5 }, 'maxWaiting must be a whole number ≥ 0'],
    [{ unknownJobs: 'drop' }, "unknownJobs must be 'fail' or 'wait'"],
    [{ id: '' }, 'distributor id'],
    [{ host: '0.0.0.0' }, 'refusing to listen on 0.0.0.0 without a secret'],
    [{ connection: {} }, 'connection'],
  ])('distributor options - %o is refused with InvalidArgumentError', (bad, message) => {
    const options = bad as unknown as DistributorOptions;
    expect(() => resolveDistributorOptions(options)).toThrow(InvalidArgumentError);
    expect(() => resolveDistributorOptions(options)).toThrow(message);
  });
});
