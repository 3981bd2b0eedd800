/**
 * Connection helpers shared by RedisStorage and RedisMonitor: the ioredis client they
 * create (a single server, or a Redis Cluster), connecting and quitting it, URLs safe to
 * print, and mapping ioredis failures to StorageError.
 */
import { Cluster, Redis } from 'ioredis';
import { InvalidArgumentError, JobReactorError, StorageError, messageOf } from '../errors.ts';

/** Redis reached when no URL is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * What the storage and the monitor talk to: one server (ioredis `Redis`), or a Redis
 * Cluster (ioredis `Cluster`), which routes each command by its keys' slot. Every command
 * and script they send touches the keys of one node only, which share one slot (the
 * `{node:N}` hash tag), or the one `P:nodes` set.
 */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * @internal The client as the type its commands are called through. A Cluster takes the
 * same commands as a Redis (both are ioredis Commanders, routed by key on a Cluster); the
 * union would not resolve ioredis's overloads. The lifecycle helpers here (connect, quit,
 * describe, scripts, server of a key) tell the two apart at run time with `isCluster`.
 */
export function commandsOf(client: RedisClient): Redis {
  return client as Redis;
}

/** `redis+cluster://` or `rediss+cluster://` (TLS): a Redis Cluster, by some of its servers. */
const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i;

interface ClusterUrl {
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  nodes: { host: string; port: number }[];
}

/** @internal Parses a cluster URL; undefined for anything else (a plain redis:// URL). */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  const m = CLUSTER_URL.exec(url);
  if (m === null) return undefined;
  const [, scheme, auth, hosts] = m;
  const nodes = hosts!.split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h.trim());
    const port = Number(hm?.[2] ?? 6379);
    if (hm === null || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port };
  });
  if (nodes.some((n) => n === undefined)) return undefined;
  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
    password = colon < 0 ? undefined : decodeURIComponent(auth.slice(colon + 1));
    // As ioredis reads redis:// URLs: `user@` is a user name, `:password@` a password.
    username = user === '' ? undefined : user;
  }
  return {
    tls: scheme!.toLowerCase() === 'rediss',
    username,
    password,
    nodes: nodes as { host: string; port: number }[],
  };
}

/**
 * @internal An ioredis client that fails fast while Redis is down and reconnects by
 * itself; a `redis+cluster://` URL gives a Cluster client with the same behaviour.
 */
export function createRedisClient(
  url: string,
  opts: { connectTimeoutMs: number; commandTimeoutMs: number; connectionName?: string },
): RedisClient {
  // No reconnects of its own until the first connection succeeded: connectRedis tries
  // again within its deadline, and past it no reconnect loop is left running.
  let connectedOnce = false;
  const cluster = parseClusterUrl(url);
  if (cluster !== undefined) {
    const client = new Cluster(cluster.nodes, {
      lazyConnect: true,
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) =>
        connectedOnce ? Math.min(100 * 2 ** Math.min(times - 1, 5), 2000) : null,
      redisOptions: {
        maxRetriesPerRequest: 1,
        connectTimeout: opts.connectTimeoutMs,
        commandTimeout: opts.commandTimeoutMs,
        ...(cluster.username !== undefined ? { username: cluster.username } : {}),
        ...(cluster.password !== undefined ? { password: cluster.password } : {}),
        ...(cluster.tls ? { tls: {} } : {}),
        ...(opts.connectionName !== undefined ? { connectionName: opts.connectionName } : {}),
      },
    });
    client.on('error', () => {});
    client.once('ready', () => (connectedOnce = true));
    return client;
  }
  const client = new Redis(url, {
    lazyConnect: true,
    enableAutoPipelining: true,
    // Commands in flight when the link drops get one resend after a reconnect, then fail.
    maxRetriesPerRequest: 1,
    // While down, commands reject at once instead of queueing (a node must not ack a job
    // that only sits in a client buffer).
    enableOfflineQueue: false,
    connectTimeout: opts.connectTimeoutMs,
    commandTimeout: opts.commandTimeoutMs,
    retryStrategy: (times) =>
      connectedOnce ? Math.min(100 * 2 ** Math.min(times - 1, 5), 2000) : null,
    ...(opts.connectionName !== undefined ? { connectionName: opts.connectionName } : {}),
  });
  // Errors reach the caller through rejected commands; without a listener ioredis would
  // print every reconnect failure to the console.
  client.on('error', () => {});
  client.once('ready', () => (connectedOnce = true));
  return client;
}

/**
 * Network failures a Redis that is starting, restarting or failing over gives for a while:
 * refused or reset connections, unreachable hosts, a server still loading its data. Worth
 * another try until the deadline; anything else (wrong password, bad certificate, a URL
 * that resolves nowhere) is the caller's to fix and fails at once.
 */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function transient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const message = messageOf(err);
  return (
    message.startsWith('LOADING') ||
    message === 'Connection is closed.' ||
    message.includes('Connection is aborted') ||
    message.includes('Failed to refresh slots cache') ||
    message.includes('None of startup nodes is available')
  );
}

/** Pause before the next try: 50 ms, doubling, at most 500 ms. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 500;
/** How often, at most, `connectRedis` tells `onWait` that it still waits (ms). */
const WAIT_REPORT_MS = 1000;

/**
 * @internal Connects a client (if it is not yet) and checks it answers PING, within
 * `timeoutMs`. A Redis that refuses or drops the connection, or is still loading its data,
 * is tried again until then (a node started while its Redis restarts waits for it); any
 * other failure, or the deadline, rejects with StorageError saying why.
 */
export async function connectRedis(
  client: RedisClient,
  timeoutMs: number,
  safeUrl: string,
  onWait?: (message: string) => void,
): Promise<void> {
  const started = Date.now();
  let toldAt: number | undefined;
  /** The client's error event during the current try, and the last try's failure. */
  let socketError: unknown;
  let failure: unknown;
  const onError = (err: unknown) => (socketError = err);
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      const last = socketError ?? failure;
      const why = last === undefined ? 'no answer' : messageOf(last);
      reject(
        new StorageError(`cannot reach Redis at ${safeUrl} within ${timeoutMs} ms: ${why}`, {
          cause: last,
        }),
      );
    }, timeoutMs);
  });
  const attempt = async (): Promise<void> => {
    for (let pause = RETRY_FIRST_MS; ; pause = Math.min(pause * 2, RETRY_MAX_MS)) {
      socketError = undefined;
      try {
        // 'end': an earlier try failed and our client does not reconnect on its own before
        // its first connection (see createRedisClient); a given client may be reconnecting.
        if (client.status === 'wait' || client.status === 'end') await client.connect();
        await client.ping();
        return;
      } catch (err) {
        // ioredis rejects connect() with "Connection is closed."; the client's own error
        // event (refused, wrong password, …) says why.
        const reason = socketError ?? err;
        failure = reason;
        if (expired) return;
        if (!transient(reason)) {
          throw new StorageError(`cannot reach Redis at ${safeUrl}: ${messageOf(reason)}`, {
            cause: reason,
          });
        }
        const now = Date.now();
        if (onWait !== undefined && (toldAt === undefined || now - toldAt >= WAIT_REPORT_MS)) {
          toldAt = now;
          const left = Math.max(0, timeoutMs - (now - started));
          try {
            onWait(
              `cannot reach Redis at ${safeUrl} yet (${messageOf(reason)}): still trying for ${left} ms`,
            );
          } catch {
            // A listener's bug must not stop the retries.
          }
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        if (expired) return;
      }
    }
  };
  try {
    await Promise.race([attempt(), deadline]);
  } catch (err) {
    if (err instanceof JobReactorError) throw err;
    const reason = socketError ?? err;
    throw new StorageError(`cannot reach Redis at ${safeUrl}: ${messageOf(reason)}`, {
      cause: reason,
    });
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
}

/** @internal Quits politely, or drops the connection when Redis does not answer. */
export async function quitRedis(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await client.quit();
  } catch {
    // Redis is down or slow: nothing to flush, just drop the socket.
  }
  dropRedis(client);
}

/**
 * @internal Drops the connection at once. Skipped when it already ended: ioredis would
 * otherwise arm a 2 s timer for a socket that is gone, delaying process exit.
 */
export function dropRedis(client: RedisClient): void {
  if (client.status !== 'end') client.disconnect();
}

/** @internal Every ioredis failure becomes a StorageError (library errors pass through). */
export function toStorageError(err: unknown, what: string): JobReactorError {
  if (err instanceof JobReactorError) return err;
  return new StorageError(`${what}: ${messageOf(err)}`, { cause: err });
}

/** @internal All entries of a hash, by HSCAN (never HGETALL on a hash of unknown size). */
export async function scanHash(client: RedisClient, key: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let cursor = '0';
  do {
    const [next, flat] = await client.hscanBuffer(key, cursor, 'COUNT', 200);
    cursor = next.toString();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      // HSCAN may return an entry twice while the hash is rehashed: the Map dedupes.
      out.set(flat[i]!.toString('utf8'), flat[i + 1]!);
    }
  } while (cursor !== '0');
  return out;
}

/** @internal The URL with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  if (parseClusterUrl(url) !== undefined) return url.replace(/\/\/[^@/]*@/, '//***@');
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable Redis URL>';
  }
}

/** @internal Where a caller's client points, for messages (never its password). */
export function describeClient(client: RedisClient): string {
  if (isCluster(client)) {
    const first = client.nodes()[0]?.options;
    const tls = first?.tls !== undefined;
    const where = first === undefined ? 'not connected yet' : `${first.host}:${first.port}, …`;
    return `${tls ? 'rediss' : 'redis'}+cluster://${where}`;
  }
  const { host, port, path, tls, db } = client.options;
  if (path) return `unix:${path}`;
  return `${tls ? 'rediss' : 'redis'}://${host ?? '127.0.0.1'}:${port ?? 6379}${db ? `/${db}` : ''}`;
}

/** @internal */
export function assertRedisUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parseClusterUrl(url) !== undefined) return;
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
    throw new InvalidArgumentError(
      `Redis URL must look like redis://host:port, rediss://host:port or redis+cluster://host:port,host:port (got ${redactUrl(url)})`,
    );
  }
}

/**
 * @internal The server that holds `key`: the client itself, or on a Cluster the master
 * serving the key's slot now. For commands about a connection or a server (CLIENT ID,
 * CLIENT LIST, INFO), which a Cluster would send to any of its nodes.
 */
export async function serverFor(client: Redis, key: string): Promise<Redis> {
  if (!isCluster(client)) return client;
  const cluster = client as RedisClient as Cluster;
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const address = cluster.slots[slot]?.[0];
  const master = cluster
    .nodes('master')
    .find((n) => `${n.options.host}:${n.options.port}` === address);
  if (master === undefined) throw new StorageError(`no Redis Cluster master serves slot ${slot}`);
  return master;
}

/** @internal The servers a script must be loaded on: every master of a Cluster. */
export function scriptServers(client: Redis): Redis[] {
  return isCluster(client) ? (client as RedisClient as Cluster).nodes('master') : [client];
}
