import { describe, expect, it } from 'vitest';
import { ID_ALPHABET, IdGenerator } from '../../../src/model/ids.ts';
import { NodeKeyspace } from '../../../src/storage/lmdb-keys.ts';

describe('lmdb keys', () => {
  const ks = new NodeKeyspace('n1');
  const gen = new IdGenerator();

  it('lmdb keys - a distributor id packs to 17 bytes after the node prefix and reads back', () => {
    const ids = [
      gen.next(),
      '0000000000000000000000',
      '~~~~~~~~~~~~~~~~~~~~~~',
      ID_ALPHABET.slice(0, 22),
      ID_ALPHABET.slice(42),
    ];
    for (const id of ids) {
      const key = ks.key(id);
      expect(key.length).toBe(3 + 1 + 17);
      expect(key.subarray(0, 3).toString('latin1')).toBe('n1\0');
      expect(key[3]).toBe(0x03);
      expect(ks.id(key)).toBe(id);
      expect(ks.writeKey(id).equals(key)).toBe(true);
    }
    expect(ks.key('~'.repeat(22)).subarray(4).toString('hex')).toBe('ff'.repeat(16) + 'f0');
  });

  it('lmdb keys - 22 characters not all of the id alphabet are stored as text', () => {
    for (const id of ['000000000000000000000-', 'é' + '0'.repeat(21), 'order-42-order-42-orde']) {
      expect(id).toHaveLength(22);
      const key = ks.key(id);
      expect(key[3]).toBe(0x02);
      expect(ks.id(key)).toBe(id);
      expect(ks.writeKey(id).equals(key)).toBe(true);
    }
  });

  it('lmdb keys - distributor ids sort as their keys, within and across milliseconds', () => {
    const t = Date.UTC(2026, 11, 1);
    const ids = [
      ...Array.from({ length: 300 }, () => gen.next(t)),
      ...Array.from({ length: 300 }, () => gen.next(t + 64)),
      ...Array.from({ length: 300 }, () => gen.next(t + 64 ** 3)),
    ];
    const keys = ids.map((id) => ks.key(id));
    const sorted = [...keys].sort((a, b) => Buffer.compare(a, b));
    expect(sorted.map((k) => ks.id(k))).toEqual(ids);
  });

  it('lmdb keys - a lowercase UUID (the ids made before) packs to 17 bytes after the node prefix and reads back', () => {
    const id = '01a23226-3585-7000-8f5b-65b3d74e2798';
    const key = ks.key(id);
    expect(key.length).toBe(3 + 17);
    expect(key.subarray(0, 3).toString('latin1')).toBe('n1\0');
    expect(key[3]).toBe(0x01);
    expect(key.subarray(4).toString('hex')).toBe(id.replaceAll('-', ''));
    expect(ks.id(key)).toBe(id);
  });

  it('lmdb keys - anything else is stored as text and reads back unchanged', () => {
    for (const id of [
      '01A23226-3585-7000-8F5B-65B3D74E2798', // uppercase
      '01a23226x3585-7000-8f5b-65b3d74e2798', // no dash where one belongs
      '01a23226-3585-7000-8f5b-65b3d74e279g', // not hex
      'order-42',
      'é'.repeat(36),
    ]) {
      const key = ks.key(id);
      expect(key[3]).toBe(0x02);
      expect(ks.id(key)).toBe(id);
    }
  });

  it('lmdb keys - writeKey: the bytes of key(), a packed id in one buffer reused by every call', () => {
    const a = '01a23226-3585-7000-8f5b-65b3d74e2798';
    const b = '01a23226-3586-7000-8f5b-65b3d74e2799';
    const first = ks.writeKey(a);
    expect(first.equals(ks.key(a))).toBe(true);
    const second = ks.writeKey(b);
    expect(second).toBe(first); // the same buffer, now b's key
    expect(second.equals(ks.key(b))).toBe(true);
    // An id that is not a packable UUID (even one failing late) gets a key of its own, and
    // the next packed id is whole again.
    const text = ks.writeKey('01a23226-3585-7000-8f5b-65b3d74e279g');
    expect(text).not.toBe(first);
    expect(text.equals(ks.key('01a23226-3585-7000-8f5b-65b3d74e279g'))).toBe(true);
    expect(ks.writeKey(a).equals(ks.key(a))).toBe(true);
    expect(ks.writeKey('order-42').equals(ks.key('order-42'))).toBe(true);
  });

  it('lmdb keys - time-ordered ids sort as their keys; each node its own range', () => {
    const a = ks.key('01a23226-3585-7000-8f5b-65b3d74e2798');
    const b = ks.key('01a23226-3586-7000-8f5b-65b3d74e2798');
    expect(Buffer.compare(a, b)).toBe(-1);
    expect(Buffer.compare(ks.start, a)).toBe(-1);
    expect(Buffer.compare(a, ks.end)).toBe(-1);
    const other = new NodeKeyspace('n10');
    expect(
      Buffer.compare(other.key('x'), ks.end) >= 0 || Buffer.compare(other.key('x'), ks.start) < 0,
    ).toBe(true);
  });
});
