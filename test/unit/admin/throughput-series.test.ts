import { describe, expect, it } from 'vitest';
import { SERIES_SECONDS, ThroughputRing } from '../../../src/admin/throughput-series.ts';
import type { Feedback, JobSpec } from '../../../src/model/job.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { finalFeedback } from '../../helpers/job-records.ts';

const fb = (over: Partial<Feedback> = {}): Feedback => finalFeedback('j', 'n', over);
const spec = (runAt: number, over: Partial<JobSpec> = {}) => ({ runAt, ...over }) as JobSpec;

describe('ThroughputRing', () => {
  it('counts final feedbacks per second by outcome; a periodic run counts as completed', () => {
    const clock = new FakeClock();
    const ring = new ThroughputRing(clock);
    ring.record(fb());
    ring.record(fb({ outcome: 'error' }));
    ring.record(fb({ outcome: 'error', final: false })); // a retry: not an end
    ring.record(fb({ final: false })); // a periodic run
    ring.record(fb({ outcome: 'cancelled' }));
    clock.advance(1000);
    ring.record(fb());
    const s = ring.snapshot();
    expect(s.completed).toHaveLength(SERIES_SECONDS);
    expect(s.completed.slice(-2)).toEqual([2, 1]);
    expect(s.failed.slice(-2)).toEqual([1, 0]);
    expect(s.cancelled.slice(-2)).toEqual([1, 0]);
    expect(s.start + (SERIES_SECONDS - 1) * 1000).toBe(Math.floor(clock.now() / 1000) * 1000);
  });

  it('p50 and p99 of one-off turnarounds per second, within a class (~26 %) above the true value', () => {
    const clock = new FakeClock();
    const ring = new ThroughputRing(clock);
    const now = clock.now();
    // 98 jobs of 10 ms, 2 of 1,000 ms: p50 10, p99 1,000.
    for (let i = 0; i < 98; i++) ring.turnaround(spec(now - 10), fb(), now);
    for (let i = 0; i < 2; i++) ring.turnaround(spec(now - 1000), fb(), now);
    // Not counted: a retry, a periodic or cron run.
    ring.turnaround(spec(now - 60_000), fb({ final: false }), now);
    ring.turnaround(spec(now - 60_000, { period: 1000 }), fb(), now);
    ring.turnaround(spec(now - 60_000, { cron: '* * * * *' }), fb(), now);
    const s = ring.snapshot();
    const p50 = s.p50.at(-1)!;
    const p99 = s.p99.at(-1)!;
    expect(p50).toBeGreaterThanOrEqual(10);
    expect(p50).toBeLessThan(10 * 1.26);
    expect(p99).toBeGreaterThanOrEqual(1000);
    expect(p99).toBeLessThan(1000 * 1.26);
    expect(s.p50.slice(0, -1).every((v) => v === null)).toBe(true);
  });

  it('a second left behind is emptied: its latencies and counts go when time passes it', () => {
    const clock = new FakeClock();
    const ring = new ThroughputRing(clock);
    ring.record(fb());
    ring.turnaround(spec(clock.now() - 5), fb(), clock.now());
    clock.advance(SERIES_SECONDS * 1000);
    const s = ring.snapshot();
    expect(s.completed.every((v) => v === 0)).toBe(true);
    expect(s.p99.every((v) => v === null)).toBe(true);
    // Zero and sub-0.1 ms turnarounds fall in the first class; hours in the last.
    ring.turnaround(spec(clock.now()), fb(), clock.now());
    ring.turnaround(spec(clock.now() - 3_600_000), fb(), clock.now());
    const t = ring.snapshot();
    expect(t.p50.at(-1)).toBeCloseTo(0.1);
    expect(t.p99.at(-1)).toBeGreaterThan(100_000);
  });
});
