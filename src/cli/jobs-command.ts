import { InvalidArgumentError as CliArgError, Option, type Command } from 'commander';
import {
  InvalidArgumentError,
  JobReactorError,
  JobStatus,
  LmdbMonitor,
  RedisMonitor,
  type JobRecord,
  type StorageMonitor,
} from '../index.ts';

interface ConnectionFlags {
  redis: string;
  prefix?: string;
  storage?: string;
}

const STATUSES: readonly string[] = Object.values(JobStatus);
/** How they are typed on a command line: `in-progress`, not `in progress`. */
const STATUS_FLAGS: readonly string[] = STATUSES.map((s) => s.replace(/ /g, '-'));

/** `--status new,error` or `--status in-progress` → statuses (`in progress` has a space). */
function parseStatuses(value: string, previous: JobStatus[] | undefined): JobStatus[] {
  const out = [...(previous ?? [])];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase().replace(/[-_]/g, ' ');
    if (name === '') continue;
    if (!STATUSES.includes(name)) {
      throw new CliArgError(`unknown status '${raw.trim()}' (one of: ${STATUS_FLAGS.join(', ')})`);
    }
    out.push(name as JobStatus);
  }
  return out;
}

function withConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--redis <url>', 'Redis URL the nodes store their jobs in')
        .env('JR_REDIS_URL')
        .default('redis://127.0.0.1:6379'),
    )
    .addOption(
      new Option('--prefix <prefix>', 'key prefix the nodes use (default: jr)').env(
        'JR_REDIS_PREFIX',
      ),
    )
    .addOption(
      new Option(
        '--storage <lmdb:path>',
        'the LMDB store the nodes use (lmdb:<directory>), instead of Redis',
      ),
    );
}

/** The monitor the flags name: `--storage lmdb:<dir>`, else Redis at `--redis`. */
function monitorFor(flags: ConnectionFlags): StorageMonitor {
  if (flags.storage !== undefined) {
    if (!/^lmdb:./i.test(flags.storage)) {
      throw new InvalidArgumentError(
        `--storage must be lmdb:<directory> (got ${JSON.stringify(flags.storage)}); for Redis use --redis <url>`,
      );
    }
    return new LmdbMonitor({ path: flags.storage.slice('lmdb:'.length) });
  }
  return new RedisMonitor({
    url: flags.redis,
    ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
  });
}

/** Runs `fn` with a monitor; a failure prints `code: message` and sets exit code 1. */
async function withMonitor(
  flags: ConnectionFlags,
  fn: (monitor: StorageMonitor) => Promise<void>,
): Promise<void> {
  let monitor: StorageMonitor | undefined;
  try {
    monitor = monitorFor(flags);
    await fn(monitor);
  } catch (err) {
    const code = err instanceof JobReactorError ? err.code : 'JR_ERR';
    process.stderr.write(`${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await monitor?.close().catch(() => undefined);
  }
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

function iso(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString();
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function jobRow(job: JobRecord): string[] {
  return [
    job.node,
    job.id,
    job.name,
    job.status,
    job.maxAttempt === undefined ? String(job.attempt) : `${job.attempt}/${job.maxAttempt}`,
    iso(job.dueAt),
    iso(job.updatedAt),
    job.lastError?.code ?? '-',
  ];
}

const JOB_HEADER = ['NODE', 'ID', 'NAME', 'STATUS', 'ATTEMPT', 'DUE', 'UPDATED', 'LAST ERROR'];
const TIME_FIELDS = new Set(['enqueuedAt', 'runAt', 'dueAt', 'updatedAt', 'startedAt', 'failedAt']);

function describeJob(job: JobRecord): string {
  const rows: string[][] = [];
  for (const [field, value] of Object.entries(job)) {
    if (value === undefined) continue;
    let text: string;
    if (TIME_FIELDS.has(field) && typeof value === 'number') text = iso(value);
    else if (field === 'lastError' && job.lastError) {
      text = `${job.lastError.code}: ${job.lastError.message}`;
    } else if (typeof value === 'object') text = JSON.stringify(value);
    else text = String(value);
    rows.push([field, text]);
  }
  const width = Math.max(...rows.map(([f]) => f!.length));
  return rows.map(([f, t]) => `${f!.padEnd(width)}  ${t}`).join('\n');
}

/**
 * `jobreactor jobs …`: inspect and repair the jobs nodes keep in Redis or in an LMDB store
 * (list, nodes, show, retry, remove, remove-all). Talks to the storage only, never to a
 * running node.
 */
export function registerJobsCommand(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('inspect and repair the jobs worker nodes keep in Redis or LMDB');

  withConnectionOptions(jobs.command('list'))
    .description('list jobs (of every node, or of one)')
    .option('--node <name>', 'only this node')
    .option('--status <status>', 'only these statuses (comma-separated)', parseStatuses)
    .option('--json', 'print JSON')
    .action(
      async (flags: ConnectionFlags & { node?: string; status?: JobStatus[]; json?: boolean }) =>
        withMonitor(flags, async (monitor) => {
          const names =
            flags.node !== undefined ? [flags.node] : (await monitor.nodes()).map((n) => n.name);
          const filter = flags.status !== undefined ? { status: flags.status } : {};
          const found: JobRecord[] = [];
          for (const name of names) found.push(...(await monitor.jobs(name, filter)));
          if (flags.json) return json(found);
          if (found.length === 0) return out('no jobs');
          out(table(JOB_HEADER, found.map(jobRow)));
        }),
    );

  withConnectionOptions(jobs.command('nodes'))
    .description('list the nodes that keep jobs in the storage')
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags & { json?: boolean }) =>
      withMonitor(flags, async (monitor) => {
        const nodes = await monitor.nodes();
        if (flags.json) return json(nodes);
        if (nodes.length === 0) return out('no nodes');
        out(
          table(
            ['NODE', 'JOBS', 'FEEDBACKS'],
            nodes.map((n) => [n.name, String(n.jobs), String(n.feedbacks)]),
          ),
        );
      }),
    );

  withConnectionOptions(jobs.command('show'))
    .description('show one job')
    .argument('<node>', 'node name')
    .argument('<id>', 'job id')
    .option('--json', 'print JSON')
    .action(async (node: string, id: string, flags: ConnectionFlags & { json?: boolean }) =>
      withMonitor(flags, async (monitor) => {
        const job = await monitor.load(node, id);
        if (job === undefined) throw new InvalidArgumentError(`no job ${id} on node ${node}`);
        if (flags.json) return json(job);
        out(describeJob(job));
      }),
    );

  withConnectionOptions(jobs.command('retry'))
    .description('put a failed job back to status error, due now (run when its node next starts)')
    .argument('<node>', 'node name')
    .argument('<id>', 'job id')
    .action(async (node: string, id: string, flags: ConnectionFlags) =>
      withMonitor(flags, async (monitor) => {
        const job = await monitor.retry(node, id);
        out(
          `job ${job.id} on node ${node}: failed -> ${job.status}, attempt 0, due ${iso(job.dueAt)} ` +
            '(a running node picks it up when it restarts)',
        );
      }),
    );

  withConnectionOptions(jobs.command('remove'))
    .description('remove one job')
    .argument('<node>', 'node name')
    .argument('<id>', 'job id')
    .action(async (node: string, id: string, flags: ConnectionFlags) =>
      withMonitor(flags, async (monitor) => {
        if (!(await monitor.remove(node, id))) {
          throw new InvalidArgumentError(`no job ${id} on node ${node}`);
        }
        out(`removed job ${id} from node ${node}`);
      }),
    );

  withConnectionOptions(jobs.command('remove-all'))
    .description('remove every job and pending feedback of one node')
    .argument('<node>', 'node name')
    .option('--yes', 'confirm')
    .action(async (node: string, flags: ConnectionFlags & { yes?: boolean }) =>
      withMonitor(flags, async (monitor) => {
        if (flags.yes !== true) {
          throw new InvalidArgumentError(
            `remove-all deletes every job of node ${node}: add --yes to confirm`,
          );
        }
        const removed = await monitor.removeAll(node);
        out(`removed ${removed.jobs} job(s) and ${removed.feedbacks} feedback(s) of node ${node}`);
      }),
    );
}
