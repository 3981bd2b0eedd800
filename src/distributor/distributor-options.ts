import { InvalidArgumentError } from '../errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import type { JobArgs } from '../model/job.ts';
import { assertKnownOptions, wholeNumberOption, type OptionKeys } from '../model/known-options.ts';
import { silentLogger, type Logger } from '../model/logger.ts';
import type { RateLimit } from '../scheduling/rate-limiter.ts';
import { resolveServerTls, type ServerTls, type TlsOptions } from '../transport/tls-options.ts';
import { assertAdminHttpOptions, type AdminHttpOptions } from '../admin/admin-server.ts';
import { assertRegistry, type MetricsRegistry } from '../metrics/registry.ts';
import {
  resolveTracing,
  type ResolvedTracing,
  type TracingOption,
} from '../tracing/tracing-options.ts';
import { randomId } from '../model/ids.ts';
import { assertNodeName } from '../model/names.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/codec.ts';

/** A job name, or the typed reference returned by `job()`. */
export type JobName<A extends object = JobArgs> =
  string | { readonly name: string; readonly __args?: A };

export interface DistributorOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one (see `address`). @default 0 */
  port?: number;
  /**
   * This distributor's identity. Jobs carry it and nodes route feedbacks by it, so a
   * restarted application that keeps its id gets the feedbacks of its earlier jobs.
   * @default a random id
   */
  id?: string;
  /** Shared secret; nodes must prove they know it (HMAC challenge-response), and so must we. */
  secret?: string;
  /**
   * TLS for every node link: `cert` and `key` (PEM) are this distributor's certificate;
   * with `ca`, nodes must present a certificate signed by it (mutual TLS). Plain nodes
   * are refused with TlsMismatchError. See {@link TlsOptions}. @default plain TCP
   */
  tls?: TlsOptions;
  /**
   * Listen on a non-loopback address although nodes are not authenticated: no `secret`,
   * and no `tls.ca` (client certificates). @default false
   */
  allowInsecure?: boolean;
  /** Jobs that may wait for an eligible node; past it `enqueue` throws QueueFullError. @default 100000 */
  maxWaiting?: number;
  /** What to do with a job no connected node can run: fail it with UnknownJobError, or wait for such a node. @default 'fail' */
  unknownJobs?: 'fail' | 'wait';
  /**
   * Connections open at once (nodes, and sockets still in their handshake); more are
   * closed as they arrive, each reported as a `node:rejected` event.
   * @default 1024
   */
  maxConnections?: number;
  /**
   * Poison-job cap: a job whose memory-storage node crashed or froze (lost its link) while
   * running it this many times is quarantined: it ends with a final error feedback
   * (PoisonJobError, `JR_ERR_POISON_JOB`), is never sent again, and a `job:quarantined`
   * event and an error log line name it and the nodes it took down. Jobs that were only
   * waiting on the lost node (delayed, between retries) do not count. (Durable nodes keep
   * the same count in their storage: the node option of the same name.)
   * @default 3
   */
  maxDeliveries?: number;
  /**
   * Caps on job starts per job name, across every node: at most `max` jobs of that name
   * start in any `duration` ms (a sliding window). A node starts such a job only with a
   * permit from this distributor, granted in the order asked; a granted job starts as
   * soon as its node has a free slot. Jobs of other names are not affected.
   * `{ 'emails.send': { max: 100, duration: 60_000 } }`. @default none
   */
  limits?: Readonly<Record<string, RateLimit>>;
  /** Largest frame accepted or sent, bytes. @default 8 MiB */
  maxFrameSize?: number;
  /** Heartbeat interval; a silent peer is dropped after 3 of them. @default 1000 */
  heartbeatMs?: number;
  /** Deadline for a node's handshake, ms. @default 2000 */
  handshakeTimeoutMs?: number;
  /**
   * Serve the admin HTTP API and the dashboard on a port of their own (see
   * `httpHandler()` to mount them in your server instead). A token is required beyond
   * loopback. @default off
   */
  http?: AdminHttpOptions;
  /**
   * The application's prom-client `Registry`: the distributor registers its metrics there
   * (`jobreactor_*`, labels job name and node only) and the admin API serves them at
   * `/metrics`. prom-client is an optional peer dependency: the library itself never loads it.
   * @default off
   */
  metrics?: MetricsRegistry;
  /**
   * OpenTelemetry traces: a `send <job name>` span per enqueue (a child of the active
   * context; its context travels in the job, W3C `traceparent`, to the node's attempt
   * spans) and a `settle <job name>` span around each feedback's onSuccess / onError.
   * `true` uses the global tracer provider and propagator (register your SDK, e.g. with
   * `node --import ./otel-setup.js`), `{ tracerProvider, propagator }` chooses them.
   * `@opentelemetry/api` is an optional peer dependency, loaded only when this is on (a
   * missing one fails `listen()` naming it). With no SDK registered it costs next to
   * nothing: the no-op spans are not serialized into jobs. See docs/operating.md.
   * @default false
   */
  tracing?: TracingOption;
  clock?: Clock;
  /** pino-compatible logger. @default silent */
  logger?: Logger;
}

/** Defaults of {@link DistributorOptions}, where the code reads them. */
export const DISTRIBUTOR_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  maxWaiting: 100_000,
  maxDeliveries: 3,
  unknownJobs: 'fail',
  heartbeatMs: 1000,
  handshakeTimeoutMs: 2000,
} as const;

const DISTRIBUTOR_OPTION_KEYS = {
  host: true,
  port: true,
  id: true,
  secret: true,
  tls: true,
  allowInsecure: true,
  maxWaiting: true,
  unknownJobs: true,
  maxConnections: true,
  maxDeliveries: true,
  limits: true,
  maxFrameSize: true,
  heartbeatMs: true,
  handshakeTimeoutMs: true,
  http: true,
  metrics: true,
  tracing: true,
  clock: true,
  logger: true,
} as const satisfies OptionKeys<DistributorOptions>;

const DISTRIBUTOR_PEER_HINTS = {
  connection:
    "a distributor needs no Redis connection: nodes keep the jobs (see the node's 'storage')",
  prefix: "the key prefix is a node option: 'redisPrefix'",
  limiter:
    "use 'limits' ({ 'job.name': { max, duration } }, across nodes) here, or the node option 'limiter'",
  defaultJobOptions: 'pass options to each enqueue() (or wrap enqueue in a function of yours)',
} as const;

/** Throws InvalidArgumentError for a key that is not a distributor option (see assertKnownOptions). */
export function assertDistributorOptions(options: DistributorOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('distributor options must be an object');
  }
  assertKnownOptions(options, DISTRIBUTOR_OPTION_KEYS, 'distributor', DISTRIBUTOR_PEER_HINTS);
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

/** True for a listen address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * Refuses to listen beyond loopback when nodes are not authenticated (no secret, no
 * client certificates): anyone who reaches the port could take jobs (and their args).
 * TLS without client certificates encrypts, but still lets anyone in.
 */
function assertSafeListen(options: DistributorOptions, host: string): void {
  const clientCerts = options.tls?.ca !== undefined;
  if (!options.secret && !clientCerts && !options.allowInsecure && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(
      `refusing to listen on ${host} without a secret: anyone who reaches the port could take jobs. Set secret, or tls with a ca (client certificates), or allowInsecure: true`,
    );
  }
}

/**
 * {@link DistributorOptions} checked and complete: every default filled in from
 * DISTRIBUTOR_DEFAULTS (the one place they live). The distributor reads only this.
 */
export interface ResolvedDistributorOptions {
  host: string;
  port: number;
  id: string;
  secret: string | undefined;
  tls: ServerTls | undefined;
  maxWaiting: number;
  unknownJobs: 'fail' | 'wait';
  maxConnections: number | undefined;
  maxDeliveries: number;
  limits: Readonly<Record<string, RateLimit>> | undefined;
  maxFrameSize: number;
  heartbeatMs: number;
  handshakeTimeoutMs: number;
  http: AdminHttpOptions | undefined;
  metrics: MetricsRegistry | undefined;
  tracing: ResolvedTracing | undefined;
  clock: Clock;
  logger: Logger;
}

/**
 * Checks `options` once and fills in every default. Throws InvalidArgumentError naming
 * the first bad option (TlsConfigError for bad TLS material).
 */
export function resolveDistributorOptions(
  options: DistributorOptions = {},
): ResolvedDistributorOptions {
  assertDistributorOptions(options);
  const d = DISTRIBUTOR_DEFAULTS;
  const id = options.id ?? randomId(8);
  assertNodeName(id, 'distributor id');
  const host = options.host ?? d.host;
  assertSafeListen(options, host);
  if (options.http !== undefined) assertAdminHttpOptions(options.http);
  if (options.metrics !== undefined) assertRegistry(options.metrics, 'metrics');
  const unknownJobs = options.unknownJobs ?? d.unknownJobs;
  if (unknownJobs !== 'fail' && unknownJobs !== 'wait') {
    throw new InvalidArgumentError(
      `unknownJobs must be 'fail' or 'wait' (got ${JSON.stringify(unknownJobs)})`,
    );
  }
  const maxDeliveries = wholeNumberOption(
    'maxDeliveries',
    options.maxDeliveries ?? d.maxDeliveries,
    1,
  );
  const maxWaiting = wholeNumberOption('maxWaiting', options.maxWaiting ?? d.maxWaiting, 0);
  return {
    host,
    port: options.port ?? d.port,
    id,
    secret: options.secret,
    tls: resolveServerTls(options.tls),
    maxWaiting,
    unknownJobs,
    maxConnections: options.maxConnections,
    maxDeliveries,
    limits: options.limits,
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    heartbeatMs: options.heartbeatMs ?? d.heartbeatMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
    http: options.http,
    metrics: options.metrics,
    tracing: resolveTracing(options.tracing),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
  };
}
