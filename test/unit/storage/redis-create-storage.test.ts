import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { createStorage } from '../../../src/storage/create-storage.ts';
import { MemoryStorage } from '../../../src/storage/memory-storage.ts';
import { RedisStorage } from '../../../src/storage/redis-storage.ts';

describe('create storage', () => {
  it("create storage - 'memory' is a MemoryStorage", () => {
    expect(createStorage('memory')).toBeInstanceOf(MemoryStorage);
  });

  it('create storage - redis:// and rediss:// URLs are a RedisStorage (not connected yet)', () => {
    const plain = createStorage('redis://127.0.0.1:6379/1', { prefix: 'app1' });
    expect(plain).toBeInstanceOf(RedisStorage);
    expect((plain as RedisStorage).prefix).toBe('app1');
    expect((plain as RedisStorage).available).toBe(false);
    const tls = createStorage('rediss://:pw@redis.example.com:6380');
    expect(tls).toBeInstanceOf(RedisStorage);
    expect((tls as RedisStorage).prefix).toBe('jr');
  });

  it('create storage - a JobStorage is returned as is', () => {
    const storage = new MemoryStorage();
    expect(createStorage(storage)).toBe(storage);
  });

  it('create storage - anything else is InvalidArgumentError, without credentials', () => {
    for (const bad of ['postgres://user:hunter2@db/jobs', 'mem', '', 'user:hunter2@redis']) {
      expect(() => createStorage(bad)).toThrow(InvalidArgumentError);
      try {
        createStorage(bad);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2');
      }
    }
    expect(() => createStorage({} as never)).toThrow(InvalidArgumentError);
    expect(() => createStorage(null as never)).toThrow(InvalidArgumentError);
    expect(() => createStorage('redis://h', { prefix: 'bad{prefix}' })).toThrow(
      InvalidArgumentError,
    );
  });
});
