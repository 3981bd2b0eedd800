// `node:disconnected` always carries a reason: a graceful stop and a SIGKILL, over real TCP.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionError,
  JobRegistry,
  startDistributor,
  startNode,
  type Logger,
} from '../../src/index.ts';
import { spawnNode } from '../helpers/node-process.ts';
import { unusedPort } from '../helpers/ports.ts';
import { redisAvailable, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { waitUntil } from '../helpers/wait.ts';

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs/', import.meta.url));
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

describe('lifecycle reporting - disconnect reasons and log lines', () => {
  it('a graceful stop says the node stopped; a SIGKILL that it closed the connection', async () => {
    const d = await startDistributor({});
    open.push(d);
    const reasons: [string, Error][] = [];
    d.on('node:disconnected', (info, reason) => reasons.push([info.name, reason]));

    const node = await startNode({
      name: 'polite',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: new JobRegistry(),
    });
    let linked = false;
    node.on('distributor:connected', () => (linked = true));
    // Both sides: a node stopped in the middle of its handshake has no link to say it on.
    await waitUntil(() => d.nodes().length === 1 && linked, 5000, 'the node');
    await node.stop();
    await waitUntil(() => reasons.length === 1, 5000, 'the disconnect');

    const proc = spawnNode({
      name: 'killed',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
    });
    await waitUntil(() => d.nodes().some((n) => n.name === 'killed'), 15_000, 'the CLI node');
    proc.kill('SIGKILL');
    await proc.exited;
    await waitUntil(() => reasons.length === 2, 10_000, 'the second disconnect');

    const [polite, killed] = reasons;
    expect(polite![0]).toBe('polite');
    expect(polite![1]).toBeInstanceOf(ConnectionError);
    expect(polite![1].message).toMatch(/polite stopped/);
    expect(killed![0]).toBe('killed');
    expect(killed![1]).toBeInstanceOf(Error);
    expect(killed![1].message).not.toBe('');
  });

  it('a CLI node with --log-format json writes pino lines: level, time, logger, msg, fields', async () => {
    const d = await startDistributor({});
    open.push(d);
    const proc = spawnNode({
      name: 'json-logs',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      extra: ['--log-level', 'info', '--log-format', 'json'],
    });
    await waitUntil(() => proc.stderr().includes('node started'), 15_000, 'the start line');
    proc.kill('SIGTERM');
    await proc.exited;
    const lines = proc
      .stderr()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const started = lines.find((l) => l.msg === 'node started');
    expect(started).toMatchObject({ level: 30, logger: 'json-logs' });
    expect(typeof started!.time).toBe('number');
    expect(lines.some((l) => typeof l.msg === 'string' && /SIGTERM/.test(l.msg))).toBe(true);
  });

  it('a wrong distributor port shows at info with its error, once per window, not once per retry', async () => {
    const port = await unusedPort();
    const proc = spawnNode({
      name: 'lost',
      distributors: [`127.0.0.1:${port}`],
      jobs: JOBS,
      extra: ['--log-level', 'info', '--log-format', 'json'],
    });
    // The backoff starts at 100 ms: several retries happen in 2 s.
    await new Promise((r) => setTimeout(r, 2000));
    proc.kill('SIGTERM');
    await proc.exited;
    const lines = jsonLines(proc.stderr()).filter(
      (l) => typeof l.msg === 'string' && /ECONNREFUSED.*retrying$/.test(l.msg),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30 });
    expect(lines[0]).toMatchObject({ address: `127.0.0.1:${port}` });
  });

  it('a job that fails for good is logged at warn with its error', async () => {
    const d = await startDistributor({});
    open.push(d);
    const proc = spawnNode({
      name: 'failing',
      distributors: [`127.0.0.1:${d.address.port}`],
      jobs: JOBS,
      extra: ['--log-format', 'json', '--max-attempt', '1'],
    });
    await waitUntil(() => d.nodes().length === 1, 15_000, 'the CLI node');
    const h = d.enqueue('it.fail', {});
    await h.result.catch(() => undefined);
    await waitUntil(() => proc.stderr().includes('failed:'), 5000, 'the failure line');
    proc.kill('SIGTERM');
    await proc.exited;
    const line = jsonLines(proc.stderr()).find((l) => l.jobId === h.id);
    expect(line).toMatchObject({ level: 40, logger: 'failing', name: 'it.fail', attempt: 1 });
    expect(line!.msg).toContain('it.fail always fails');
  });
});

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** A logger that keeps its lines, as an application's pino would write them. */
function recordingLogger(): { logger: Logger; lines: Line[]; find(re: RegExp): Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) =>
    void lines.push({
      level,
      fields: typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>) : {},
      msg: typeof obj === 'string' ? obj : (msg ?? ''),
    });
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    find: (re) => lines.filter((l) => re.test(l.msg)),
  };
}

describe('lifecycle log lines through the application logger', () => {
  it('a refused duplicate name: one error line with the reason, its retries at debug only', async () => {
    const d = await startDistributor({});
    open.push(d);
    const first = await startNode({
      name: 'twin',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: new JobRegistry(),
    });
    open.push({ close: () => first.stop() });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the first twin');
    const log = recordingLogger();
    const second = await startNode({
      name: 'twin',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: new JobRegistry(),
      logger: log.logger,
    });
    open.push({ close: () => second.stop() });
    await waitUntil(() => log.find(/already connected/).length > 0, 5000, 'the refusal');
    const refusal = log.find(/already connected/).filter((l) => l.level !== 'debug');
    expect(refusal).toHaveLength(1);
    expect(refusal[0]).toMatchObject({ level: 'error', fields: { code: 'JR_ERR_DUPLICATE_NODE' } });
    expect(log.lines.filter((l) => l.level === 'info' && /retrying/.test(l.msg))).toEqual([]);
    expect(log.find(/retrying$/).every((l) => l.level === 'debug')).toBe(true);
  });

  it('connected, a retried attempt, the final failure, and a distributor that closes', async () => {
    const d = await startDistributor({});
    const log = recordingLogger();
    const registry = new JobRegistry();
    registry.define('flaky', () => {
      throw new Error('flaky broke');
    });
    const node = await startNode({
      name: 'talker',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry,
      logger: log.logger,
    });
    open.push({ close: () => node.stop() });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
    expect(log.find(/^connected to distributor$/)).toMatchObject([
      { level: 'info', fields: { address: `127.0.0.1:${d.address.port}`, distributor: d.id } },
    ]);
    const h = d.enqueue('flaky', {}, { maxAttempt: 2, retryMultiplier: 0.05 });
    await expect(h.result).rejects.toMatchObject({ code: 'JR_ERR_JOB_FAILED' });
    await waitUntil(() => log.find(/failed: JR_ERR_JOB_THREW: flaky broke$/).length > 0, 5000, 'x');
    const retry = log.find(
      /attempt 1 failed: JR_ERR_JOB_THREW: flaky broke; runs again in \d+ ms$/,
    );
    expect(retry).toMatchObject([
      {
        level: 'info',
        fields: { jobId: h.id, name: 'flaky', attempt: 1, code: 'JR_ERR_JOB_THREW' },
      },
    ]);
    expect(log.find(/failed: JR_ERR_JOB_THREW: flaky broke$/)).toMatchObject([
      { level: 'warn', fields: { jobId: h.id, attempt: 2 } },
    ]);

    await d.close();
    await waitUntil(() => log.find(/closed the connection; retrying$/).length > 0, 5000, 'close');
    expect(log.find(/closed the connection; retrying$/)[0]).toMatchObject({
      level: 'info',
      msg: `distributor 127.0.0.1:${d.address.port} closed the connection; retrying`,
    });
  });

  it.skipIf(!redisAvailable())(
    'a Redis that goes away and comes back empty: down (warn), back (info), each once',
    async () => {
      const redis: RedisServer = await startRedisServer();
      open.push({ close: () => redis.stop() });
      const d = await startDistributor({});
      open.push(d);
      const log = recordingLogger();
      const node = await startNode({
        name: 'stored',
        distributors: [`127.0.0.1:${d.address.port}`],
        registry: new JobRegistry(),
        storage: redis.url,
        redisPrefix: `jr-log-${process.pid}`,
        logger: log.logger,
      });
      open.push({ close: () => node.stop() });
      await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
      redis.kill();
      await waitUntil(() => log.find(/^storage is down/).length > 0, 10_000, 'storage down');
      // A few seconds down: the reconnect and takeover loops would log each try.
      await new Promise((r) => setTimeout(r, 2500));
      await redis.restart();
      await waitUntil(() => log.find(/^storage is back/).length > 0, 15_000, 'storage back');
      await waitUntil(() => log.find(/lost data/).length > 0, 10_000, 'the data-loss line');
      expect(log.find(/^storage is down/)).toMatchObject([{ level: 'warn' }]);
      expect(log.find(/^storage is back/)).toMatchObject([{ level: 'info' }]);
      // Emptied, but it held no job: a warning, not an error.
      expect(log.find(/lost data/)).toMatchObject([
        { level: 'warn', fields: { code: 'JR_ERR_STORAGE_LOST', jobs: 0 } },
      ]);
      expect(log.find(/takeover scan failed/)).toEqual([]);
      // Nothing else repeated while it was down.
      const texts = log.lines.filter((l) => l.level !== 'debug').map((l) => `${l.level} ${l.msg}`);
      expect(new Set(texts).size).toBe(texts.length);
    },
    40_000,
  );
});

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
