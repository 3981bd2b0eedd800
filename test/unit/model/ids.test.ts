import { describe, expect, it } from 'vitest';
import { IdGenerator } from '../../../src/model/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('ids', () => {
  it('ids - UUIDv7 layout, the timestamp in front, ordered within and across milliseconds', () => {
    const gen = new IdGenerator();
    const t = Date.UTC(2026, 11, 1);
    const ids = [
      ...Array.from({ length: 5000 }, () => gen.next(t)),
      ...Array.from({ length: 10 }, () => gen.next(t + 5)),
      gen.next(t + 1), // a clock step back: still after the last one
    ];
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect(ids[0]!.replace(/-/g, '').slice(0, 12)).toBe(t.toString(16).padStart(12, '0'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ids - unique over many, across pool refills', () => {
    const gen = new IdGenerator();
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(gen.next());
    expect(ids.size).toBe(100_000);
  });
});
