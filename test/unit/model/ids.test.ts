import { describe, expect, it } from 'vitest';
import { ID_ALPHABET, ID_LENGTH, IdGenerator } from '../../../src/model/ids.ts';

const ID = /^[0-9A-Z_a-z~]{22}$/;

/** The ms timestamp spelled by an id's first 8 characters. */
function msOf(id: string): number {
  let ms = 0;
  for (let i = 0; i < 8; i++) ms = ms * 64 + ID_ALPHABET.indexOf(id[i]!);
  return ms;
}

describe('ids', () => {
  it('ids - the alphabet is in ascending ASCII order, 64 characters, no "-"', () => {
    expect(ID_ALPHABET).toHaveLength(64);
    expect(new Set(ID_ALPHABET).size).toBe(64);
    const codes = [...ID_ALPHABET].map((c) => c.charCodeAt(0));
    expect([...codes].sort((a, b) => a - b)).toEqual(codes);
    expect(ID_ALPHABET).not.toContain('-');
  });

  it('ids - 22 characters, the timestamp in front, ordered within and across milliseconds', () => {
    const gen = new IdGenerator();
    const t = Date.UTC(2026, 11, 1);
    const ids = [
      ...Array.from({ length: 5000 }, () => gen.next(t)), // past the 4096 counter: next ms
      ...Array.from({ length: 10 }, () => gen.next(t + 5)),
      gen.next(t + 1), // a clock step back: still after the last one
    ];
    for (const id of ids) {
      expect(id).toHaveLength(ID_LENGTH);
      expect(id).toMatch(ID);
    }
    expect(msOf(ids[0]!)).toBe(t);
    expect(msOf(ids[4095]!)).toBe(t);
    expect(msOf(ids[4096]!)).toBe(t + 1); // the counter overflowed into the next millisecond
    expect(msOf(ids[5000]!)).toBe(t + 5);
    expect(msOf(ids.at(-1)!)).toBe(t + 5);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ids - the largest 48-bit timestamp still fits and sorts last', () => {
    const gen = new IdGenerator();
    const max = 2 ** 48 - 1;
    const a = gen.next(Date.UTC(2026, 0, 1));
    const b = gen.next(max);
    expect(msOf(b)).toBe(max);
    expect(b.slice(0, 8)).toBe('~'.repeat(8));
    expect(a < b).toBe(true);
  });

  it('ids - unique over many, across pool refills and generators', () => {
    const ids = new Set<string>();
    const gens = [new IdGenerator(), new IdGenerator()];
    const t = Date.now();
    // Both generators in the same millisecond and counter slots: only the random part differs.
    for (let i = 0; i < 50_000; i++) for (const g of gens) ids.add(g.next(t));
    expect(ids.size).toBe(100_000);
    for (const id of ids) expect(id).toMatch(ID);
  });
});
