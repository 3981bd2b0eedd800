import { describe, expect, it } from 'vitest';
import { NodeKeyspace } from '../../../src/storage/lmdb-keys.ts';

describe('lmdb keys', () => {
  const ks = new NodeKeyspace('n1');

  it('lmdb keys - a lowercase UUID packs to 17 bytes after the node prefix and reads back', () => {
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
