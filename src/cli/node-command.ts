import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError as CliArgError, Option, type Command } from 'commander';
import {
  ErrorCodes,
  JobReactorError,
  startNode,
  TlsConfigError,
  type TlsOptions,
  type WorkerNode,
} from '../index.ts';
import { consoleLogger, isLogFormat, isLogLevel } from './console-logger.ts';
import { createMetricsRegistry, parseMetricsAddress, serveMetrics } from './metrics-server.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliArgError('must be a whole number ≥ 1');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CliArgError('must be a number ≥ 0');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

interface NodeFlags {
  name: string;
  distributor: string[];
  storage: string;
  jobs: string;
  concurrency: number;
  secretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServername?: string;
  redisPrefix?: string;
  redisConnectTimeout?: number;
  lmdbSync?: 'flush' | 'commit';
  threads?: number;
  maxAttempt?: number;
  retryMultiplier?: number;
  leaseTtl?: number;
  maxDeliveries?: number;
  stopTimeout: number;
  blockWarnMs?: number;
  maxPendingFeedbacks?: number;
  feedbackMaxAge?: number | string;
  prefetch?: number;
  prefetchBytes?: number;
  paused?: boolean;
  limiter?: { max: number; duration: number };
  metrics?: string;
  tracing?: boolean;
  logLevel: string;
  logFormat: string;
}

/** `--limiter 100/1000` → `{ max: 100, duration: 1000 }` (checked by the node). */
function parseLimiter(value: string): { max: number; duration: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
  if (!m)
    throw new CliArgError(`--limiter wants max/ms, e.g. 100/1000 (got ${JSON.stringify(value)})`);
  return { max: Number(m[1]), duration: Number(m[2]) };
}

/** `jobreactor node`: runs a worker node until SIGTERM/SIGINT, then stops gracefully. */
export function registerNodeCommand(program: Command): void {
  program
    .command('node')
    .description('run a worker node that dials one or more distributors')
    .addOption(new Option('--name <name>', 'unique node name').env('JR_NAME').makeOptionMandatory())
    .addOption(
      new Option('--distributor <host:port>', 'distributor to dial (repeat, or comma-separate)')
        .env('JR_DISTRIBUTORS')
        .argParser(collect)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--storage <kind>',
        "job storage: 'memory', a redis:// URL, redis+cluster://host:port,host:port, or lmdb:<directory> (durable, no server)",
      )
        .env('JR_STORAGE')
        .default('memory'),
    )
    .addOption(
      new Option('--redis-prefix <prefix>', 'key prefix in Redis (default jr)').env(
        'JR_REDIS_PREFIX',
      ),
    )
    .addOption(
      new Option(
        '--lmdb-sync <mode>',
        'LMDB storage: flush (writes on disk before accepted; default) or commit (in the OS cache: survives a node crash, not a machine crash)',
      )
        .env('JR_LMDB_SYNC')
        .choices(['flush', 'commit']),
    )
    .addOption(
      new Option('--jobs <dir>', 'job directory (loaded recursively)')
        .env('JR_JOBS')
        .default('reactor_jobs'),
    )
    .addOption(
      new Option('--concurrency <n>', 'jobs run at once')
        .env('JR_CONCURRENCY')
        .argParser(positiveInt)
        .default(64),
    )
    .addOption(
      new Option(
        '--prefetch <n>',
        'instant jobs taken ahead of free slots, per distributor (0: off; default 2000)',
      )
        .env('JR_PREFETCH')
        .argParser(nonNegative),
    )
    .addOption(
      new Option(
        '--prefetch-bytes <n>',
        'bytes of instant jobs a distributor may have sent and not yet started (default 4 MiB)',
      )
        .env('JR_PREFETCH_BYTES')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--threads <n>', 'worker threads for defer: true jobs (default: cores - 1)')
        .env('JR_THREADS')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--secret-file <path>', 'file holding the shared secret').env('JR_SECRET_FILE'),
    )
    .addOption(
      new Option('--tls-cert <path>', "TLS: this node's certificate (PEM), for mutual TLS").env(
        'JR_TLS_CERT',
      ),
    )
    .addOption(
      new Option('--tls-key <path>', 'TLS: the private key of --tls-cert (PEM)').env('JR_TLS_KEY'),
    )
    .addOption(
      new Option(
        '--tls-ca <path>',
        "TLS: CA certificates (PEM) that sign the distributors' (default: Node's root CAs)",
      ).env('JR_TLS_CA'),
    )
    .addOption(
      new Option(
        '--tls-servername <name>',
        "TLS: name the distributors' certificates must carry (default: the host dialled)",
      ).env('JR_TLS_SERVERNAME'),
    )
    .addOption(
      new Option('--max-attempt <n>', 'attempts before a job fails')
        .env('JR_MAX_ATTEMPT')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--retry-multiplier <s>', 'retry after attempt × this many seconds')
        .env('JR_RETRY_MULTIPLIER')
        .argParser(nonNegative),
    )
    .addOption(
      new Option(
        '--redis-connect-timeout <ms>',
        'Redis storage: how long the start waits for Redis, retrying while it refuses or loads (default 5000)',
      )
        .env('JR_REDIS_CONNECT_TIMEOUT')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--lease-ttl <ms>', 'Redis storage: lease TTL on the node name (default 10000)')
        .env('JR_LEASE_TTL')
        .argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--max-deliveries <n>',
        'durable storage: quarantine a job after its node died this many times running it (default 3)',
      )
        .env('JR_MAX_DELIVERIES')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--stop-timeout <ms>', 'grace period for running jobs on SIGTERM')
        .env('JR_STOP_TIMEOUT')
        .argParser(positiveInt)
        .default(10_000),
    )
    .addOption(
      new Option(
        '--block-warn-ms <ms>',
        'warn when a job step holds the event loop longer than this (0: off; default 1000)',
      )
        .env('JR_BLOCK_WARN_MS')
        .argParser(nonNegative),
    )
    .addOption(
      new Option(
        '--max-pending-feedbacks <n>',
        'unacknowledged feedbacks per distributor before the node takes no more of its jobs (default 10000)',
      )
        .env('JR_MAX_PENDING_FEEDBACKS')
        .argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--feedback-max-age <duration>',
        "how long feedbacks wait for a distributor that is away: seconds, '12h', '7d', or 'never' (default 7d)",
      )
        .env('JR_FEEDBACK_MAX_AGE')
        .argParser((v: string) => (v === 'never' ? Number.POSITIVE_INFINITY : v)),
    )
    .addOption(
      new Option('--limiter <max/ms>', 'at most max job starts per ms on this node (e.g. 100/1000)')
        .env('JR_LIMITER')
        .argParser(parseLimiter),
    )
    .addOption(
      new Option(
        '--paused',
        'start paused: start no job until SIGUSR2 (SIGTSTP pauses a running node again)',
      ).env('JR_PAUSED'),
    )
    .addOption(
      new Option(
        '--metrics <[host:]port>',
        'serve Prometheus metrics at /metrics (loopback unless a host is given; needs prom-client)',
      ).env('JR_METRICS'),
    )
    .addOption(
      new Option(
        '--tracing',
        'OpenTelemetry spans per attempt, continuing the enqueue trace (needs @opentelemetry/api; register an SDK with node --import)',
      ).env('JR_TRACING'),
    )
    .addOption(
      new Option('--log-level <level>', 'debug | info | warn | error | silent')
        .env('JR_LOG_LEVEL')
        .default('info'),
    )
    .addOption(
      new Option('--log-format <format>', 'pretty (one readable line) | json (pino lines)')
        .env('JR_LOG_FORMAT')
        .default('pretty'),
    )
    .action(async (flags: NodeFlags) => {
      if (!isLogLevel(flags.logLevel)) throw new CliArgError(`unknown log level ${flags.logLevel}`);
      if (!isLogFormat(flags.logFormat)) {
        throw new CliArgError(`unknown log format ${flags.logFormat} (pretty or json)`);
      }
      const log = consoleLogger(flags.logLevel, flags.name, flags.logFormat);
      let secret: string | undefined;
      if (flags.secretFile) secret = readFileSync(flags.secretFile, 'utf8').trim();
      else if (process.env.JR_SECRET) secret = process.env.JR_SECRET;
      let node: WorkerNode;
      let metrics: { port: number; close(): void } | undefined;
      try {
        const tls = tlsFromFlags(flags);
        const address =
          flags.metrics === undefined ? undefined : parseMetricsAddress(flags.metrics);
        const registry = address === undefined ? undefined : await createMetricsRegistry();
        node = await startNode({
          name: flags.name,
          distributors: flags.distributor,
          storage: flags.storage,
          ...(flags.redisPrefix !== undefined ? { redisPrefix: flags.redisPrefix } : {}),
          ...(flags.redisConnectTimeout !== undefined
            ? { redisConnectTimeoutMs: flags.redisConnectTimeout }
            : {}),
          ...(flags.lmdbSync !== undefined ? { lmdbSync: flags.lmdbSync } : {}),
          jobDirectory: resolve(flags.jobs),
          concurrency: flags.concurrency,
          ...(secret !== undefined ? { secret } : {}),
          ...(tls !== undefined ? { tls } : {}),
          ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
          ...(flags.maxAttempt !== undefined ? { maxAttempt: flags.maxAttempt } : {}),
          ...(flags.retryMultiplier !== undefined
            ? { retryMultiplier: flags.retryMultiplier }
            : {}),
          ...(flags.blockWarnMs !== undefined ? { blockWarnMs: flags.blockWarnMs } : {}),
          ...(flags.maxPendingFeedbacks !== undefined
            ? { maxPendingFeedbacks: flags.maxPendingFeedbacks }
            : {}),
          ...(flags.feedbackMaxAge !== undefined ? { feedbackMaxAge: flags.feedbackMaxAge } : {}),
          ...(flags.leaseTtl !== undefined ? { leaseTtlMs: flags.leaseTtl } : {}),
          ...(flags.maxDeliveries !== undefined ? { maxDeliveries: flags.maxDeliveries } : {}),
          ...(flags.prefetch !== undefined ? { prefetch: flags.prefetch } : {}),
          ...(flags.prefetchBytes !== undefined ? { prefetchBytes: flags.prefetchBytes } : {}),
          ...(flags.paused === true ? { paused: true } : {}),
          ...(flags.limiter !== undefined ? { limiter: flags.limiter } : {}),
          ...(registry !== undefined ? { metrics: registry } : {}),
          ...(flags.tracing === true ? { tracing: true } : {}),
          logger: log,
        });
        if (registry !== undefined && address !== undefined) {
          try {
            metrics = await serveMetrics(registry, address);
          } catch (err) {
            await node.stop();
            throw err;
          }
          log.info({ port: metrics.port, host: address.host }, 'metrics at /metrics');
        }
      } catch (err) {
        const code = err instanceof JobReactorError ? err.code : 'JR_ERR';
        // The node logs a taken name itself (library users see it too): one line, not two.
        if (code !== ErrorCodes.DuplicateNode) {
          log.error({ code }, err instanceof Error ? err.message : String(err));
        }
        process.exitCode = 1;
        return;
      }
      let stopping = false;
      const onSignal = (signal: string) => {
        if (stopping) {
          log.warn(`second ${signal}: exiting now`);
          process.exit(1);
        }
        stopping = true;
        log.info(`${signal}: stopping (up to ${flags.stopTimeout} ms)`);
        metrics?.close();
        void node.stop({ timeout: flags.stopTimeout }).then(() => {
          log.info('stopped');
          process.exit(0);
        });
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
      // Pause and resume without a restart (Sidekiq's TSTP "quiet"; SIGUSR1 is Node's debugger).
      process.on('SIGTSTP', () => {
        if (!stopping) void node.pause().catch(() => undefined);
      });
      process.on('SIGUSR2', () => {
        if (!stopping) void node.resume().catch(() => undefined);
      });
      // Said once the handlers are in place: a supervisor (or a test) that signals as soon as
      // it reads this line must not meet the default action, which kills without a stop.
      log.info(
        { distributors: flags.distributor.join(','), concurrency: flags.concurrency },
        'node started',
      );
    });
}

/**
 * `--tls-*` flags (file paths) → the `tls` option, or undefined when none is given (plain
 * TCP). TLS is on as soon as one is: `--tls-ca` alone verifies the distributors.
 */
function tlsFromFlags(flags: NodeFlags): TlsOptions | undefined {
  const read = (flag: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsConfigError(
        `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  };
  const cert = read('--tls-cert', flags.tlsCert);
  const key = read('--tls-key', flags.tlsKey);
  const ca = read('--tls-ca', flags.tlsCa);
  if ([cert, key, ca, flags.tlsServername].every((v) => v === undefined)) return undefined;
  return {
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(flags.tlsServername !== undefined ? { servername: flags.tlsServername } : {}),
  };
}
