import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/model/job.ts';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import {
  randomPrefix,
  redisAvailable,
  startRedisServer,
  type RedisServer,
} from '../helpers/redis-server.ts';
import { jobsCli, type CliResult } from '../helpers/jobs-cli.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

/** Runs the real CLI with `env` (the storage to look at). */
const cli = (env: Record<string, string>, ...args: string[]): Promise<CliResult> =>
  jobsCli(args, env);

function job(node: string, id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    name: 'send_email',
    args: { to: 'a@example.com' },
    distributor: 'dist-1',
    enqueuedAt: T0,
    runAt: T0,
    delivery: 1,
    node,
    status: 'new',
    attempt: 0,
    dueAt: T0 + 60_000,
    runs: 0,
    updatedAt: T0 + 5,
    ...over,
  };
}

describe.skipIf(!redisAvailable())('monitor cli', () => {
  let server: RedisServer;
  let env: Record<string, string>;
  const storages: RedisStorage[] = [];

  async function seed(node: string, records: JobRecord[]): Promise<RedisStorage> {
    const storage = new RedisStorage({ url: server.url, prefix: env.JR_REDIS_PREFIX! });
    storages.push(storage);
    await storage.open(node);
    for (const r of records) await storage.save(r);
    return storage;
  }

  beforeAll(async () => {
    server = await startRedisServer();
    env = { JR_REDIS_URL: server.url, JR_REDIS_PREFIX: randomPrefix() };
    await seed('w1', [
      job('w1', 'job-a'),
      job('w1', 'job-b', {
        status: 'failed',
        attempt: 3,
        maxAttempt: 3,
        failedAt: T0 + 9,
        lastError: { name: 'TimeoutError', code: 'JR_ERR_TIMEOUT', message: 'took too long' },
      }),
      job('w1', 'job-c', { name: 'resize.image', status: 'in progress', attempt: 1 }),
    ]);
    await seed('bw1', [job('bw1', 'job-z', { status: 'queued', period: 60_000 })]);
  });

  afterAll(async () => {
    for (const s of storages) await s.close();
    await server?.stop();
  });

  it('monitor cli - nodes (table and --json)', async () => {
    const table = await cli(env, 'nodes');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^NODE\s+JOBS\s+FEEDBACKS$/);
    expect(table.stdout).toMatch(/^bw1\s+1\s+0$/m);
    expect(table.stdout).toMatch(/^w1\s+3\s+0$/m);
    const json = await cli(env, 'nodes', '--json');
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'bw1', jobs: 1, feedbacks: 0 },
      { name: 'w1', jobs: 3, feedbacks: 0 },
    ]);
  });

  it('monitor cli - list as an aligned table, filtered, and as --json', async () => {
    const all = await cli(env, 'list');
    expect(all.code).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+ID\s+NAME\s+STATUS\s+ATTEMPT\s+DUE\s+UPDATED\s+LAST ERROR$/);
    expect(lines).toHaveLength(5);
    // Aligned: every row's ID column starts where the header's does.
    const idColumn = lines[0]!.indexOf('ID');
    for (const line of lines.slice(1)) expect(line.slice(idColumn, idColumn + 4)).toBe('job-');
    const failedLine = lines.find((l) => l.includes('job-b'))!;
    expect(failedLine).toContain('failed');
    expect(failedLine).toContain('3/3');
    expect(failedLine).toContain('JR_ERR_TIMEOUT');
    expect(failedLine).toContain(new Date(T0 + 60_000).toISOString());

    const one = await cli(env, 'list', '--node', 'w1', '--status', 'in-progress');
    expect(one.stdout).toContain('job-c');
    expect(one.stdout).not.toContain('job-a');

    const json = await cli(env, 'list', '--node', 'w1', '--json');
    const records = JSON.parse(json.stdout) as JobRecord[];
    expect(records.map((r) => r.id)).toEqual(['job-a', 'job-b', 'job-c']);
    expect(records[1]).toStrictEqual(
      job('w1', 'job-b', {
        status: 'failed',
        attempt: 3,
        maxAttempt: 3,
        failedAt: T0 + 9,
        lastError: { name: 'TimeoutError', code: 'JR_ERR_TIMEOUT', message: 'took too long' },
      }),
    );
  });

  it('monitor cli - show (text and --json); a missing job exits 1 with code: message', async () => {
    const text = await cli(env, 'show', 'w1', 'job-b');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^status\s+failed$/m);
    expect(text.stdout).toMatch(/^lastError\s+JR_ERR_TIMEOUT: took too long$/m);
    expect(text.stdout).toContain(`failedAt     ${new Date(T0 + 9).toISOString()}`);
    const json = await cli(env, 'show', 'w1', 'job-a', '--json');
    expect(JSON.parse(json.stdout)).toStrictEqual(job('w1', 'job-a'));
    const missing = await cli(env, 'show', 'w1', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^JR_ERR_INVALID_ARGUMENT: no job nope on node w1$/m);
  });

  it('monitor cli - retry turns a failed job into error; a second retry is refused', async () => {
    const first = await cli(env, 'retry', 'w1', 'job-b');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('failed -> error');
    const shown = JSON.parse((await cli(env, 'show', 'w1', 'job-b', '--json')).stdout) as JobRecord;
    expect(shown.status).toBe('error');
    expect(shown.attempt).toBe(0);
    expect(shown).not.toHaveProperty('failedAt');
    expect(shown.lastError?.code).toBe('JR_ERR_TIMEOUT');
    const again = await cli(env, 'retry', 'w1', 'job-b');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^JR_ERR_INVALID_ARGUMENT: .*only failed jobs/m);
  });

  it('monitor cli - remove deletes one job', async () => {
    const removed = await cli(env, 'remove', 'w1', 'job-a');
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain('removed job job-a from node w1');
    const again = await cli(env, 'remove', 'w1', 'job-a');
    expect(again.code).toBe(1);
    const list = await cli(env, 'list', '--node', 'w1', '--json');
    expect((JSON.parse(list.stdout) as JobRecord[]).map((r) => r.id)).toEqual(['job-b', 'job-c']);
  });

  it('monitor cli - remove-all needs --yes and removes only that node', async () => {
    const refused = await cli(env, 'remove-all', 'w1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^JR_ERR_INVALID_ARGUMENT: .*--yes/m);
    const done = await cli(env, 'remove-all', 'w1', '--yes');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('removed 2 job(s) and 0 feedback(s) of node w1');
    const nodes = JSON.parse((await cli(env, 'nodes', '--json')).stdout) as { name: string }[];
    expect(nodes.map((n) => n.name)).toEqual(['bw1']);
    const rest = JSON.parse((await cli(env, 'list', '--json')).stdout) as JobRecord[];
    expect(rest.map((r) => r.id)).toEqual(['job-z']);
  });

  it('monitor cli - unreachable Redis exits 1 with code: message and no password', async () => {
    const down = await cli({ ...env, JR_REDIS_URL: 'redis://:very-secret@127.0.0.1:1' }, 'list');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /^JR_ERR_STORAGE: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/m,
    );
    expect(down.stderr).not.toContain('very-secret');
  });
});
