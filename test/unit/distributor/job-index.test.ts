import { describe, expect, it } from 'vitest';
import { JobIndex } from '../../../src/distributor/job-index.ts';
import { buildJobSpec } from '../../../src/distributor/enqueue-options.ts';
import { TrackedJob } from '../../../src/distributor/tracked-job.ts';

const NOW = Date.UTC(2026, 0, 1);

function tracked(id: string, after?: number): TrackedJob {
  const { spec, routing } = buildJobSpec({
    name: 'j',
    args: {},
    options: after === undefined ? {} : { after },
    id,
    distributor: 'd1',
    now: NOW,
  });
  return new TrackedJob(spec, routing, undefined, undefined);
}

describe('job index', () => {
  it('job index - instant and delayed jobs are found, counted, listed and removed alike', () => {
    const index = new JobIndex();
    const now1 = tracked('a');
    const later = tracked('b', 60);
    expect(now1.instant).toBe(true);
    expect(later.instant).toBe(false);
    index.set(now1);
    index.set(later);
    expect(index.size).toBe(2);
    expect(index.get('a')).toBe(now1);
    expect(index.get('b')).toBe(later);
    expect(index.get('c')).toBeUndefined();
    expect([...index.values()].map((j) => j.spec.id).sort()).toEqual(['a', 'b']);
    expect(index.delete('b')).toBe(true);
    expect(index.delete('b')).toBe(false);
    expect(index.get('b')).toBeUndefined();
    index.clear();
    expect(index.size).toBe(0);
    expect(index.get('a')).toBeUndefined();
  });
});
