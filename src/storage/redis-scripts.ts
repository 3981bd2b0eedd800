/**
 * The Lua scripts of the Redis storage, registered on a client with `defineCommand`
 * (ioredis sends EVALSHA, and the script text once per connection). Each one is a single
 * command: a fenced write costs what a plain HSET did, one round trip.
 *
 * Lease value: `<token>|<holder JSON>`. Scripts that write for a node get `<token>|` as
 * their first ARGV and refuse, with an error reply starting `JRLEASE`, when the lease key
 * does not start with it (another node holds the name, or the key is gone): the fence.
 *
 * All keys of one script share a hash tag except `jrMove`'s (two nodes), so adoption needs
 * a single Redis, not a Cluster.
 */
import type { Redis } from 'ioredis';

/** Prefix of the error reply a fenced script gives when the lease is not ours. */
export const LEASE_REFUSED = 'JRLEASE';

const FENCE = `
local v = redis.call('GET', KEYS[1])
if (not v) or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then
  return redis.error_reply('${LEASE_REFUSED} the lease on this node name is not ours')
end`;

const SCRIPTS = {
  /** KEYS: lease, hash. ARGV: token, field, value. HSET if the lease is ours. */
  jrHset: { keys: 2, lua: `${FENCE}\nreturn redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])` },
  /** KEYS: lease, hash. ARGV: token, field… HDEL if the lease is ours. */
  jrHdel: { keys: 2, lua: `${FENCE}\nreturn redis.call('HDEL', KEYS[2], unpack(ARGV, 2))` },
  /**
   * KEYS: lease, feedback hash, jobs hash. ARGV: token, feedback key, feedback, job id
   * [, record]. The feedback first; then the record saved, or the job removed without one.
   */
  jrFinish: {
    keys: 3,
    lua: `${FENCE}
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if #ARGV >= 5 then return redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
return redis.call('HDEL', KEYS[3], ARGV[4])`,
  },
  /**
   * KEYS: lease. ARGV: token, new value, ttl ms. Returns 1 (renewed, value refreshed),
   * 0 (no key) or the value of whoever holds it.
   */
  jrRenew: {
    keys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return v end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
  },
  /**
   * KEYS: lease. ARGV: expected value, new value ('' deletes), ttl ms. Compare-and-set:
   * 1 when the key held exactly the expected value, else 0.
   */
  jrSwap: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`,
  },
  /** KEYS: lease. ARGV: token. Deletes the key if it is ours (1), else 0. */
  jrRelease: {
    keys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`,
  },
  /**
   * KEYS: source lease, source hash, target lease, target hash. ARGV: source token, target
   * token, then (field, old value, new value) triples. Moves each field whose source value
   * is still the old one, if both leases are still held by those tokens; one the target
   * holds already (the distributor re-sent the job there) is only dropped from the source.
   * Returns the fields moved.
   */
  jrMove: {
    keys: 4,
    lua: `local function held(key, token)
  local v = redis.call('GET', key)
  return v and string.sub(v, 1, #token) == token
end
if not held(KEYS[1], ARGV[1]) or not held(KEYS[3], ARGV[2]) then
  return redis.error_reply('${LEASE_REFUSED} a lease changed during adoption')
end
local moved = {}
for i = 3, #ARGV, 3 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
    if redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 2]) == 1 then moved[#moved + 1] = ARGV[i] end
  end
end
return moved`,
  },
} as const;

type Arg = string | Buffer | number;

/** A client with the storage's scripts defined on it. */
export interface ScriptedRedis extends Redis {
  jrHset(lease: string, hash: string, token: string, field: string, value: Arg): Promise<number>;
  jrHdel(lease: string, hash: string, token: string, ...fields: string[]): Promise<number>;
  jrFinish(lease: string, fb: string, jobs: string, ...args: Arg[]): Promise<number>;
  jrRenew(lease: string, token: string, value: string, ttlMs: number): Promise<number | string>;
  jrSwap(lease: string, expected: string, value: string, ttlMs: number): Promise<number>;
  jrRelease(lease: string, token: string): Promise<number>;
  jrMove(
    srcLease: string,
    src: string,
    dstLease: string,
    dst: string,
    ...args: Arg[]
  ): Promise<string[]>;
}

/** Defines the scripts on `client` (idempotent; a client given by the caller gets them too). */
export function withScripts(client: Redis): ScriptedRedis {
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') {
      client.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    }
  }
  return client as ScriptedRedis;
}
