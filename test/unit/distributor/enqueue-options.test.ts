import { describe, expect, it } from 'vitest';
import { buildJobSpec, type EnqueueOptions } from '../../../src/distributor/enqueue-options.ts';
import { MAX_DURATION_MS } from '../../../src/model/duration.ts';
import { MAX_ATTEMPT_LIMIT } from '../../../src/scheduling/job-settings.ts';

const NOW = Date.UTC(2026, 0, 1);

function build(options: EnqueueOptions) {
  return buildJobSpec({ name: 'j', args: {}, options, id: 'id-1', distributor: 'd', now: NOW });
}

function refused(options: Record<string, unknown>): string {
  try {
    build(options);
  } catch (err) {
    expect(err).toMatchObject({ code: 'JR_ERR_INVALID_ARGUMENT' });
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('enqueue-options - the shared job settings rules', () => {
  it('enqueue-options - values at the bounds become the spec', () => {
    const { spec } = build({
      maxAttempt: MAX_ATTEMPT_LIMIT,
      retryMultiplier: 0,
      period: '10ms',
      timeout: '1ms',
      backoff: { type: 'fixed', delay: 5 },
    });
    expect(spec).toMatchObject({
      maxAttempt: MAX_ATTEMPT_LIMIT,
      retryMultiplier: 0,
      period: 10,
      timeout: 1,
      backoff: { type: 'fixed', delay: 5 },
    });
  });

  it('enqueue-options - the new bounds throw InvalidArgumentError naming the field', () => {
    expect(refused({ maxAttempt: 1e15 })).toMatch(/^maxAttempt /);
    expect(refused({ maxAttempt: MAX_ATTEMPT_LIMIT + 1 })).toMatch(/^maxAttempt /);
    expect(refused({ retryMultiplier: 1e9 })).toMatch(/^retryMultiplier /);
    expect(refused({ period: '9ms' })).toMatch(/^period /);
    expect(refused({ timeout: 0 })).toMatch(/^timeout /);
    expect(refused({ after: MAX_DURATION_MS / 1000 })).toMatch(/^runAt /);
    expect(refused({ tz: 'Europe/Paris' })).toMatch(/^tz /);
    expect(refused({ cron: '* * * * *', period: 60 })).toMatch(/period or cron/);
    expect(refused({ cron: '0 0 31 2 *' })).toMatch(/never matches/);
    expect(refused({ cron: '* * * * *', tz: 'Nowhere/Land' })).toMatch(/tz/);
  });
});
