/**
 * Connection helpers shared by RedisStorage and RedisMonitor: the ioredis client they
 * create, connecting and quitting it, URLs safe to print, and mapping ioredis failures to
 * StorageError.
 */
import { Redis } from 'ioredis';
import { InvalidArgumentError, JobReactorError, StorageError } from '../errors.ts';

/** Redis reached when no URL is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** @internal An ioredis client that fails fast while Redis is down and reconnects by itself. */
export function createRedisClient(
  url: string,
  opts: { connectTimeoutMs: number; commandTimeoutMs: number; connectionName?: string },
): Redis {
  // No retries until the first connection succeeded: unreachable at open is an error for
  // the caller, not a reconnect loop left running in the background.
  let connectedOnce = false;
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

/** @internal Connects a client (if it is not yet) and checks it answers PING, within `timeoutMs`. */
export async function connectRedis(
  client: Redis,
  timeoutMs: number,
  safeUrl: string,
): Promise<void> {
  let lastError: unknown;
  const onError = (err: unknown) => (lastError = err);
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StorageError(`cannot reach Redis at ${safeUrl}: no answer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([
      (async () => {
        if (client.status === 'wait') await client.connect();
        await client.ping();
      })(),
      deadline,
    ]);
  } catch (err) {
    if (err instanceof JobReactorError) throw err;
    // ioredis rejects connect() with "Connection is closed."; the socket error says why.
    const reason = lastError ?? err;
    throw new StorageError(`cannot reach Redis at ${safeUrl}: ${messageOf(reason)}`, {
      cause: reason,
    });
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
}

/** @internal Quits politely, or drops the connection when Redis does not answer. */
export async function quitRedis(client: Redis): Promise<void> {
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
export function dropRedis(client: Redis): void {
  if (client.status !== 'end') client.disconnect();
}

/** @internal Every ioredis failure becomes a StorageError (library errors pass through). */
export function toStorageError(err: unknown, what: string): JobReactorError {
  if (err instanceof JobReactorError) return err;
  return new StorageError(`${what}: ${messageOf(err)}`, { cause: err });
}

/** @internal All entries of a hash, by HSCAN (never HGETALL on a hash of unknown size). */
export async function scanHash(client: Redis, key: string): Promise<Map<string, Buffer>> {
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
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable Redis URL>';
  }
}

/** @internal Where a caller's client points, for messages (never its password). */
export function describeClient(client: Redis): string {
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
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
    throw new InvalidArgumentError(
      `Redis URL must look like redis://host:port or rediss://host:port (got ${redactUrl(url)})`,
    );
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
