import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/errors.ts';
import { LeaseState, LeaseStatus } from '../../../src/storage/lease-state.ts';

const TTL = 1000;

/** A lease brought to `status` by legal transitions (`since` = 0). */
function leaseIn(status: LeaseStatus): LeaseState {
  const l = new LeaseState(TTL);
  if (status === LeaseStatus.Idle) return l;
  if (status === LeaseStatus.Released) return (l.released(), l);
  l.acquired(0);
  if (status === LeaseStatus.Missing) l.vanished();
  if (status === LeaseStatus.Lost) l.lost();
  return l;
}

type Move = 'acquired' | 'renewed' | 'lost' | 'vanished' | 'released';
const apply = (l: LeaseState, move: Move) =>
  move === 'acquired' || move === 'renewed' ? l[move](10) : l[move]();

describe('lease state', () => {
  it('lease state - acquired: idle → held, trusted for one TTL from when it was sent', () => {
    const l = new LeaseState(TTL);
    expect(l.status).toBe('idle');
    expect(l.trusted(0)).toBe(false);
    l.acquired(100);
    expect(l.status).toBe('held');
    expect(l.trusted(100)).toBe(true);
    expect(l.trusted(1099)).toBe(true);
    expect(l.trusted(1100)).toBe(false);
    expect(l.trustedUntil).toBe(1100);
  });

  it('lease state - renewed: held → held, trust moves to the renewal start + TTL (never back)', () => {
    const l = leaseIn(LeaseStatus.Held);
    l.renewed(900);
    expect(l.trusted(1899)).toBe(true);
    expect(l.trusted(1900)).toBe(false);
    l.renewed(500); // a slow reply to an older renewal does not shorten the trust
    expect(l.trustedUntil).toBe(1900);
    // Frozen past the TTL: held, but not trusted until a renewal succeeds again.
    expect(l.status).toBe('held');
    expect(l.trusted(5000)).toBe(false);
    l.renewed(5000);
    expect(l.trusted(5000)).toBe(true);
  });

  it('lease state - lost: held | missing → lost, never trusted', () => {
    for (const from of [LeaseStatus.Held, LeaseStatus.Missing]) {
      const l = leaseIn(from);
      l.lost();
      expect(l.status).toBe('lost');
      expect(l.trusted(1)).toBe(false);
      expect(l.trustedUntil).toBe(-Infinity);
    }
  });

  it('lease state - vanished: held → missing (untrusted), then acquired again → held', () => {
    const l = leaseIn(LeaseStatus.Held);
    l.vanished();
    expect(l.status).toBe('missing');
    expect(l.trusted(1)).toBe(false);
    l.acquired(2000);
    expect(l.status).toBe('held');
    expect(l.trusted(2999)).toBe(true);
  });

  it('lease state - released from idle, held, missing and lost; final', () => {
    for (const from of [
      LeaseStatus.Idle,
      LeaseStatus.Held,
      LeaseStatus.Missing,
      LeaseStatus.Lost,
    ]) {
      const l = leaseIn(from);
      l.released();
      expect(l.status).toBe('released');
      expect(l.trusted(1)).toBe(false);
    }
  });

  it('lease state - every illegal transition throws StorageError and changes nothing', () => {
    const legal: Record<LeaseStatus, Move[]> = {
      idle: ['acquired', 'released'],
      held: ['renewed', 'lost', 'vanished', 'released'],
      missing: ['acquired', 'lost', 'released'],
      lost: ['released'],
      released: [],
    };
    const moves: Move[] = ['acquired', 'renewed', 'lost', 'vanished', 'released'];
    let checked = 0;
    for (const from of Object.values(LeaseStatus)) {
      for (const move of moves) {
        if (legal[from].includes(move)) continue;
        const l = leaseIn(from);
        expect(() => apply(l, move), `${move} from ${from}`).toThrow(StorageError);
        expect(l.status).toBe(from);
        checked++;
      }
    }
    expect(checked).toBe(25 - 10);
  });
});
