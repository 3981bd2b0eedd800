import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, redisServerPath, spawnRedis } from './redis-server.ts';

const run = promisify(execFile);

/**
 * A real Redis Cluster for tests: `masters` redis-server processes with
 * `--cluster-enabled yes` (plus one replica each), on free loopback ports, in throwaway
 * directories, joined by `redis-cli --cluster create`. No persistence; a short
 * `cluster-node-timeout` so a killed master fails over in about a second.
 */
export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…` (every server, masters first). */
  url: string;
  ports: number[];
  /** Port of the master serving `key`'s slot now. */
  masterFor(key: string): Promise<number>;
  /** Ports of the masters now. */
  masters(): Promise<number[]>;
  /** Port of the replica of the master on `port`. */
  replicaOf(port: number): Promise<number>;
  /**
   * Holds back the replica of the master on `port`: SIGSTOP it and cut its replication
   * link, so that what the master acknowledges from now on is on the master alone (as when
   * asynchronous replication lags). Returns the function that resumes it (SIGCONT).
   */
  holdBackReplica(port: number): Promise<() => void>;
  /** SIGKILL the server on `port` (a crash). */
  kill(port: number): void;
  /** Resolves once every slot is served by a live master and every server says `ok`. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Why the cluster suites cannot run here, or undefined when they can. */
export function clusterUnsupported(): string | undefined {
  const bin = redisServerPath();
  if (bin === undefined) return 'no redis-server binary (PATH, /usr/bin, JR_REDIS_SERVER)';
  const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  if (cli.status !== 0) return 'no redis-cli binary on PATH (it creates the cluster)';
  const help = spawnSync('redis-cli', ['--cluster', 'help'], { encoding: 'utf8' });
  if (!`${help.stdout}${help.stderr}`.includes('create')) {
    return 'this redis-cli has no --cluster create (Redis < 5)';
  }
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout;
  const major = Number(/v=(\d+)/.exec(version)?.[1] ?? 0);
  if (major < 5) return `redis-server ${version.trim()} has no cluster support usable here`;
  return undefined;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  return stdout;
}

export async function startRedisCluster(
  options: { masters?: number; nodeTimeoutMs?: number } = {},
): Promise<RedisCluster> {
  const bin = redisServerPath();
  if (bin === undefined) throw new Error('redis-server not found');
  const masters = options.masters ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'jr-cluster-'));
  const children = new Map<number, ChildProcess>();
  const ports: number[] = [];
  const killAll = () => {
    for (const c of children.values()) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  try {
    for (let i = 0; i < masters * 2; i++) {
      const port = await freePort();
      const home = join(dir, String(port));
      mkdirSync(home);
      const child = await spawnRedis(bin, port, home, 'none', [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(home, 'nodes.conf'),
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 1000),
        // Replicas sync at once (Redis 7 waits 5 s for more replicas to share a transfer).
        '--repl-diskless-sync-delay',
        '0',
      ]);
      children.set(port, child);
      ports.push(port);
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
  } catch (err) {
    killAll();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const alive = () =>
    ports.filter((p) => {
      const c = children.get(p);
      return c !== undefined && c.exitCode === null && c.signalCode === null;
    });
  /** [first slot, last slot, master port] of every range a live master serves (CLUSTER NODES). */
  const slotsOf = async (): Promise<[number, number, number][]> => {
    const ranges: [number, number, number][] = [];
    for (const line of (await cli(alive()[0]!, 'cluster', 'nodes')).trim().split('\n')) {
      const [, address, flags, , , , , , ...slots] = line.split(' ');
      if (!flags?.includes('master') || flags.includes('fail')) continue;
      const port = Number(/:(\d+)@/.exec(address ?? '')?.[1]);
      for (const slot of slots) {
        if (slot.startsWith('[')) continue; // a slot being migrated
        const [from, to] = slot.split('-').map(Number);
        ranges.push([from!, to ?? from!, port]);
      }
    }
    return ranges;
  };
  const cluster: RedisCluster = {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    ports,
    async masterFor(key) {
      const slot = Number((await cli(alive()[0]!, 'cluster', 'keyslot', key)).trim());
      const range = (await slotsOf()).find(([s, e]) => slot >= s && slot <= e);
      if (range === undefined) throw new Error(`no master serves slot ${slot}`);
      return range[2];
    },
    async masters() {
      return [...new Set((await slotsOf()).map((r) => r[2]))];
    },
    async replicaOf(port) {
      for (const other of alive()) {
        const info = await cli(other, 'info', 'replication').catch(() => '');
        if (info.includes('role:slave') && info.includes(`master_port:${port}\r`)) return other;
      }
      throw new Error(`no replica of ${port}`);
    },
    async holdBackReplica(port) {
      const replica = children.get(await cluster.replicaOf(port))!;
      replica.kill('SIGSTOP');
      await cli(port, 'client', 'kill', 'type', 'replica');
      // Nothing reaches it any more: the master lists no connected replica.
      await waitFor(
        async () => (await cli(port, 'info', 'replication')).includes('connected_slaves:0'),
        5000,
        'the replica link to be cut',
      );
      return () => void replica.kill('SIGCONT');
    },
    kill(port) {
      children.get(port)?.kill('SIGKILL');
    },
    async waitHealthy(timeoutMs = 20_000) {
      await waitFor(
        async () => {
          // Every slot served by a live master (a killed one's by its promoted replica)…
          const live = new Set(alive());
          let served = 0;
          for (const [from, to, port] of await slotsOf().catch(() => [])) {
            if (live.has(port)) served += to - from + 1;
          }
          if (served !== 16384) return false;
          // …and every live server agreeing that the cluster is up.
          for (const port of alive()) {
            const info = await cli(port, 'cluster', 'info').catch(() => '');
            if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384'))
              return false;
          }
          return true;
        },
        timeoutMs,
        'the cluster to be healthy',
      );
    },
    async stop() {
      const exits = [...children.values()]
        .filter((c) => c.exitCode === null && c.signalCode === null)
        .map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
      killAll();
      await Promise.all(exits);
      process.off('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitHealthy();
  // A replica that has not synced yet cannot take over: wait for every link.
  await waitFor(
    async () => {
      for (const port of ports) {
        const info = await cli(port, 'info', 'replication').catch(() => '');
        if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false;
      }
      return true;
    },
    20_000,
    'every replica to sync',
  );
  return cluster;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
