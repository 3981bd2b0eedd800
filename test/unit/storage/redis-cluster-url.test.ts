import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors.ts';
import { createStorage } from '../../../src/storage/create-storage.ts';
import {
  assertRedisUrl,
  parseClusterUrl,
  redactUrl,
} from '../../../src/storage/redis-connection.ts';
import { RedisStorage } from '../../../src/storage/redis-storage.ts';

describe('redis cluster url', () => {
  it('parses servers, credentials and TLS', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      tls: false,
      username: undefined,
      password: undefined,
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
    expect(parseClusterUrl('rediss+cluster://app:p%40ss@a.example,[::1]:7002/')).toEqual({
      tls: true,
      username: 'app',
      password: 'p@ss',
      nodes: [
        { host: 'a.example', port: 6379 },
        { host: '::1', port: 7002 },
      ],
    });
    expect(parseClusterUrl('redis+cluster://:secret@h:1')?.password).toBe('secret');
    expect(parseClusterUrl('redis+cluster://app@h:1')).toMatchObject({
      username: 'app',
      password: undefined,
    });
  });

  it('refuses what is not a cluster URL, and a bad one everywhere with JR_ERR_INVALID_ARGUMENT', () => {
    expect(parseClusterUrl('redis://h:1')).toBeUndefined();
    for (const bad of ['redis+cluster://', 'redis+cluster://h:0', 'redis+cluster://h:99999,x']) {
      expect(parseClusterUrl(bad)).toBeUndefined();
      expect(() => assertRedisUrl(bad)).toThrow(
        expect.objectContaining({ code: ErrorCodes.InvalidArgument }),
      );
      expect(() => createStorage(bad)).toThrow(
        expect.objectContaining({ code: ErrorCodes.InvalidArgument }),
      );
    }
  });

  it('createStorage makes a RedisStorage of one, and the password never shows', () => {
    expect(createStorage('redis+cluster://a:1,b:2')).toBeInstanceOf(RedisStorage);
    expect(redactUrl('redis+cluster://u:hunter2@a:1,b:2')).toBe('redis+cluster://***@a:1,b:2');
  });
});
