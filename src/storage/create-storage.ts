import { InvalidArgumentError } from '../errors.ts';
import type { Clock } from '../model/clock.ts';
import type { JobStorage } from './job-storage.ts';
import { parseLmdbSpec } from './lmdb-env.ts';
import { LmdbStorage, type LmdbSync } from './lmdb-storage.ts';
import { MemoryStorage } from './memory-storage.ts';
import { RedisStorage } from './redis-storage.ts';

export interface CreateStorageOptions {
  /** Key prefix for a Redis storage (ignored otherwise). @default 'jr' */
  prefix?: string;
  /** How long a Redis storage's `open` waits for Redis, ms (ignored otherwise). @default 5000 */
  connectTimeoutMs?: number;
  /** Lease TTL of a Redis or LMDB storage, ms (see their options). @default 10000 */
  leaseTtlMs?: number;
  /** Clock of a Redis or LMDB storage's lease. @default the system clock */
  clock?: Clock;
  /** When an LMDB storage's writes count as done (see LmdbSync). @default 'flush' */
  lmdbSync?: LmdbSync;
}

/**
 * What `createStorage` accepts: the string `'memory'`, a `redis://` or `rediss://` URL, a
 * Redis Cluster's `redis+cluster://host:port,host:port` (or `rediss+cluster://`),
 * `'lmdb:<directory>'`, or a JobStorage. (Typed `string` so a value read from a flag or the
 * environment fits.)
 */
export type StorageSpec = string | JobStorage;

/**
 * The composition root's one switch between backends: `'memory'` → MemoryStorage, a
 * `redis://`, `rediss://` or `redis+cluster://` URL → RedisStorage, `'lmdb:<directory>'` →
 * LmdbStorage (the directory is created when missing), a JobStorage → itself. Anything else throws
 * InvalidArgumentError. Nothing connects here; the node calls `open(name)`.
 */
export function createStorage(spec: StorageSpec, opts: CreateStorageOptions = {}): JobStorage {
  if (typeof spec === 'string') {
    if (spec === 'memory') return new MemoryStorage();
    if (/^rediss?(\+cluster)?:\/\//i.test(spec)) {
      return new RedisStorage({
        url: spec,
        ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
        ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
        ...(opts.leaseTtlMs !== undefined ? { leaseTtlMs: opts.leaseTtlMs } : {}),
        ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
      });
    }
    const dir = parseLmdbSpec(spec);
    if (dir !== undefined) {
      return new LmdbStorage({
        path: dir,
        ...(opts.lmdbSync !== undefined ? { sync: opts.lmdbSync } : {}),
        ...(opts.leaseTtlMs !== undefined ? { leaseTtlMs: opts.leaseTtlMs } : {}),
        ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
      });
    }
    throw new InvalidArgumentError(
      `storage must be 'memory', a redis://, rediss:// or redis+cluster:// URL, 'lmdb:<directory>', or a JobStorage (got ${JSON.stringify(withoutCredentials(spec))})`,
    );
  }
  if (isJobStorage(spec)) return spec;
  throw new InvalidArgumentError(
    `storage must be 'memory', a redis://, rediss:// or redis+cluster:// URL, 'lmdb:<directory>', or a JobStorage (got ${spec === null ? 'null' : typeof spec})`,
  );
}

function isJobStorage(value: unknown): value is JobStorage {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s.durable === 'boolean' &&
    [
      'open',
      'save',
      'load',
      'remove',
      'list',
      'saveFeedback',
      'removeFeedback',
      'listFeedbacks',
      'close',
    ].every((m) => typeof s[m] === 'function')
  );
}

/** Hides whatever precedes an `@` (user and password of a URL), and caps the length. */
function withoutCredentials(spec: string): string {
  const hidden = spec.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/]*@/i, '$1***@');
  return hidden.length > 80 ? `${hidden.slice(0, 80)}…` : hidden;
}
