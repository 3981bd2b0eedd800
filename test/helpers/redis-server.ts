import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Real `redis-server` processes for tests (no mocks of Redis anywhere): one per test file,
 * on a free loopback port, no persistence, in a throwaway directory.
 *
 * Without a `redis-server` binary (PATH, `/usr/bin`, or `JR_REDIS_SERVER`) the Redis suites
 * skip with one loud warning, unless `JR_REQUIRE_REDIS=1` (CI), where that is an error.
 */

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The running server's process id (undefined while it is down). */
  readonly pid: number | undefined;
  /** SIGTERM, wait for exit, remove the data directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, at once (a crash). `restart()` brings it back on the same port. */
  kill(): void;
  /** Stops it if it runs, then starts it again on the same port and waits for PING. */
  restart(): Promise<void>;
}

let warned = false;

/** Path of the redis-server binary, or undefined. */
export function redisServerPath(): string | undefined {
  // An explicit JR_REDIS_SERVER is the only candidate (set it to a missing path to check
  // the skip path). REDIS_SERVER is the benchmark's older name for it.
  const explicit = process.env.JR_REDIS_SERVER ?? process.env.REDIS_SERVER;
  const candidates = explicit
    ? [explicit]
    : [
        ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'redis-server')),
        '/usr/bin/redis-server',
        '/usr/local/bin/redis-server',
      ];
  for (const path of candidates) {
    if (!path) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * True when a redis-server can be started. When it cannot: throws under
 * `JR_REQUIRE_REDIS=1`, otherwise prints one loud warning (the suites then skip).
 */
export function redisAvailable(): boolean {
  if (redisServerPath() !== undefined) return true;
  if (process.env.JR_REQUIRE_REDIS === '1') {
    throw new Error('JR_REQUIRE_REDIS=1 but no redis-server binary was found (PATH, /usr/bin)');
  }
  if (!warned && firstToWarn()) {
    warned = true;
    console.warn(
      '\n' +
        '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
        '!!  redis-server not found: the Redis storage, monitor and CLI tests are      !!\n' +
        '!!  SKIPPED. Install redis-server (or set JR_REDIS_SERVER); CI sets           !!\n' +
        '!!  JR_REQUIRE_REDIS=1 so that this is an error there.                        !!\n' +
        '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
    );
  }
  return false;
}

/**
 * True for the first test file of a run to ask. Vitest runs each file with its own module
 * state, so a marker file keyed by the runner's pid (the workers' parent) makes the warning
 * print once per run; a marker older than ten minutes is from an earlier run.
 */
function firstToWarn(): boolean {
  const marker = join(tmpdir(), `jr-redis-skip-warned-${process.ppid}`);
  try {
    if (Date.now() - statSync(marker).mtimeMs < 10 * 60_000) return false;
    rmSync(marker, { force: true });
  } catch {
    // no marker yet
  }
  try {
    writeFileSync(marker, '', { flag: 'wx' });
    return true;
  } catch {
    return false; // another file wrote it first
  }
}

/** A random key prefix, so tests sharing one server never see each other's keys. */
export function randomPrefix(): string {
  return `jrtest-${randomBytes(6).toString('hex')}`;
}

/** A port nobody listens on right now (it may be taken by the time it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /**
   * `'none'` (the default: a restart comes back empty) or `'aof-always'` (an append-only
   * file fsynced on every write: a SIGKILLed server comes back with every acknowledged write).
   */
  persistence?: 'none' | 'aof-always';
}

/** Starts a redis-server on a free port and waits until it answers. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const persistence = options.persistence ?? 'none';
  const bin = redisServerPath();
  if (bin === undefined) throw new Error('redis-server not found');
  const dir = mkdtempSync(join(tmpdir(), 'jr-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  // Another process may grab the port between our probe and redis binding it: retry.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      child = await spawnRedis(bin, port, dir, persistence);
      break;
    } catch (err) {
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const stopChild = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await stopChild();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
    kill() {
      child?.kill('SIGKILL');
      child = undefined;
    },
    async restart() {
      await stopChild();
      // The old socket may linger a moment; redis binds with SO_REUSEADDR, retry anyway.
      for (let attempt = 1; ; attempt++) {
        try {
          child = await spawnRedis(bin, port, dir, persistence);
          return;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
}

/** Starts one redis-server and waits until it answers; `extra` flags go last (cluster mode). */
export async function spawnRedis(
  bin: string,
  port: number,
  dir: string,
  persistence: 'none' | 'aof-always',
  extra: string[] = [],
): Promise<ChildProcess> {
  const aof =
    persistence === 'aof-always'
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no'];
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...aof,
      '--daemonize',
      'no',
      '--dir',
      dir,
      '--logfile',
      '',
      '--loglevel',
      'warning',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited: ${output.trim().slice(-500)}`);
    }
    if ((await answeringPid(port)) === child.pid) {
      // Keep the pipes drained so redis never blocks on a full one.
      child.stdout?.resume();
      child.stderr?.resume();
      return child;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within 10 s: ${output.trim()}`);
}

/**
 * The pid of the redis-server answering on `port`, or undefined. Checked against our
 * child's pid: if another process grabbed the port first, our redis exits and theirs
 * must not be mistaken for it.
 */
function answeringPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(500, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      const match = /process_id:(\d+)\r\n/.exec(reply);
      if (match) done(Number(match[1]));
      else if (reply.startsWith('-')) done(undefined);
    });
  });
}
