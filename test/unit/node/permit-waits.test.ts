import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../src/model/job.ts';
import { PermitWaits } from '../../../src/node/lifecycle/permit-waits.ts';

const rec = (id: string, name: string, distributor = 'd1') =>
  ({ id, name, distributor }) as JobRecord;

describe('permit waits', () => {
  it('permit waits - only names the job’s own distributor limits need a permit', () => {
    const w = new PermitWaits(() => {});
    expect(w.needs(rec('a', 'mail'))).toBe(false);
    w.limits('d1', ['mail']);
    expect(w.needs(rec('a', 'mail'))).toBe(true);
    expect(w.needs(rec('a', 'other'))).toBe(false);
    expect(w.needs(rec('a', 'mail', 'd2'))).toBe(false);
    w.limits('d1', []); // told again (a reconnect): the new list wins
    expect(w.needs(rec('a', 'mail'))).toBe(false);
  });

  it('permit waits - wait → take (granted or cancelled) once; of() lists one distributor’s', () => {
    const asked: string[] = [];
    const w = new PermitWaits((r) => void asked.push(r.id));
    w.wait(rec('a', 'mail'));
    w.wait(rec('b', 'mail', 'd2'));
    expect(w.size).toBe(2);
    expect(w.has('a')).toBe(true);
    expect(w.of('d1').map((r) => r.id)).toEqual(['a']);
    expect(asked).toEqual(['a', 'b']);
    expect(w.take('a')?.id).toBe('a');
    expect(w.take('a')).toBeUndefined();
    w.clear();
    expect(w.size).toBe(0);
  });

  it('permit waits - at most the bound asks out per distributor; each grant lets the next ask', () => {
    const asked: string[] = [];
    const w = new PermitWaits((r) => void asked.push(r.id), 2);
    for (const id of ['a', 'b', 'c', 'd']) w.wait(rec(id, 'mail'));
    w.wait(rec('x', 'mail', 'd2')); // another distributor has its own bound
    expect(asked).toEqual(['a', 'b', 'x']);
    expect(w.askedOf('d1')).toBe(2);
    expect(w.size).toBe(5);
    // A job that had not asked yet leaves (cancelled): nothing changes, and it never asks.
    expect(w.take('c')?.id).toBe('c');
    expect(asked).toEqual(['a', 'b', 'x']);
    // A grant answers an ask: the oldest waiting job asks.
    expect(w.granted('a')?.id).toBe('a');
    expect(asked).toEqual(['a', 'b', 'x', 'd']);
    expect(w.granted('b')?.id).toBe('b');
    expect(w.granted('d')?.id).toBe('d');
    expect(w.askedOf('d1')).toBe(0);
    expect(w.granted('zz')).toBeUndefined();
    expect(w.askedOf('d1')).toBe(0);
  });

  it('permit waits - an ask whose job left stays out until its grant, as on the distributor', () => {
    const asked: string[] = [];
    const w = new PermitWaits((r) => void asked.push(r.id), 1);
    w.wait(rec('a', 'mail'));
    w.wait(rec('b', 'mail'));
    expect(w.take('a')?.id).toBe('a'); // cancelled after asking
    expect(asked).toEqual(['a']); // b still waits its turn: a's ask is out
    expect(w.askedOf('d1')).toBe(1);
    expect(w.granted('a')).toBeUndefined(); // the late grant: nothing to start
    expect(asked).toEqual(['a', 'b']);
    expect(w.granted('b')?.id).toBe('b');
    expect(w.askedOf('d1')).toBe(0);
  });

  it('permit waits - relinked: asks of the old link are gone, the oldest ask again up to the bound', () => {
    const asked: string[] = [];
    const w = new PermitWaits((r) => void asked.push(r.id), 2);
    for (const id of ['a', 'b', 'c', 'd']) w.wait(rec(id, 'mail'));
    w.wait(rec('x', 'mail', 'd2'));
    w.take('a'); // its ask was out: gone with the old link too
    asked.length = 0;
    w.relinked('d1');
    expect(asked).toEqual(['b', 'c']);
    expect(w.askedOf('d1')).toBe(2);
    expect(w.askedOf('d2')).toBe(1); // untouched
    expect(w.granted('a')).toBeUndefined(); // a stale grant from before: not an answer now
    expect(w.askedOf('d1')).toBe(2);
    w.granted('b');
    expect(asked).toEqual(['b', 'c', 'd']);
  });

  it('permit waits - a job that waits again after its grant asks once more', () => {
    const asked: string[] = [];
    const w = new PermitWaits((r) => void asked.push(r.id), 1);
    w.wait(rec('a', 'mail'));
    w.wait(rec('b', 'mail'));
    expect(w.granted('a')?.id).toBe('a'); // b asks
    w.wait(rec('a', 'mail')); // its next run waits again: behind b
    w.wait(rec('a', 'mail')); // told twice: still one wait
    expect(asked).toEqual(['a', 'b']);
    w.granted('b');
    expect(asked).toEqual(['a', 'b', 'a']);
    expect(w.askedOf('d1')).toBe(1);
    expect(w.size).toBe(1);
  });
});
