import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../src/model/job.ts';
import { PermitWaits } from '../../../src/node/lifecycle/permit-waits.ts';

const rec = (id: string, name: string, distributor = 'd1') =>
  ({ id, name, distributor }) as JobRecord;

describe('permit waits', () => {
  it('permit waits - only names the job’s own distributor limits need a permit', () => {
    const w = new PermitWaits();
    expect(w.needs(rec('a', 'mail'))).toBe(false);
    w.limits('d1', ['mail']);
    expect(w.needs(rec('a', 'mail'))).toBe(true);
    expect(w.needs(rec('a', 'other'))).toBe(false);
    expect(w.needs(rec('a', 'mail', 'd2'))).toBe(false);
    w.limits('d1', []); // told again (a reconnect): the new list wins
    expect(w.needs(rec('a', 'mail'))).toBe(false);
  });

  it('permit waits - wait → take (granted or cancelled) once; of() lists one distributor’s', () => {
    const w = new PermitWaits();
    w.wait(rec('a', 'mail'));
    w.wait(rec('b', 'mail', 'd2'));
    expect(w.size).toBe(2);
    expect(w.has('a')).toBe(true);
    expect(w.of('d1').map((r) => r.id)).toEqual(['a']);
    expect(w.take('a')?.id).toBe('a');
    expect(w.take('a')).toBeUndefined();
    w.clear();
    expect(w.size).toBe(0);
  });
});
