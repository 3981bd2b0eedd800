/**
 * The Lua scripts of the Redis storage, registered on a client with `defineCommand`
 * (ioredis sends EVALSHA, and the script text once per connection). The writes of one
 * event-loop turn go out as one `jrBatch`, fenced once: the fence costs one script call per
 * batch, not per write.
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
  /**
   * KEYS: lease, jobs hash, feedback hash. ARGV: token, then ops in order, each an op code
   * and a field, and a value for the sets: `j` HSET jobs, `J` HDEL jobs, `f` HSET feedback,
   * `F` HDEL feedback. The writes of one event-loop turn, fenced once and applied atomically
   * in order (group commit: one script call for many jobs instead of one per write).
   */
  jrBatch: {
    keys: 3,
    lua: `${FENCE}
local i = 2
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'j' then redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2]) i = i + 3
  elseif op == 'J' then redis.call('HDEL', KEYS[2], ARGV[i + 1]) i = i + 2
  elseif op == 'f' then redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2]) i = i + 3
  elseif op == 'F' then redis.call('HDEL', KEYS[3], ARGV[i + 1]) i = i + 2
  else return redis.error_reply('ERR jrBatch: unknown op ' .. tostring(op)) end
end
return n`,
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
   * is still the old one, if both leases are still held by those tokens. Returns the
   * fields moved.
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
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 2])
    moved[#moved + 1] = ARGV[i]
  end
end
return moved`,
  },
} as const;

type Arg = string | Buffer | number;

/** A client with the storage's scripts defined on it. */
export interface ScriptedRedis extends Redis {
  jrBatch(lease: string, jobs: string, fb: string, ...args: Arg[]): Promise<number>;
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
