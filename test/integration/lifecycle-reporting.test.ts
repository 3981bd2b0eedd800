// `node:disconnected` always carries a reason: a graceful stop and a SIGKILL, over real TCP.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, JobRegistry, startDistributor, startNode } from '../../src/index.ts';
import { spawnNode } from '../helpers/node-process.ts';
import { unusedPort } from '../helpers/ports.ts';
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
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node');
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

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
