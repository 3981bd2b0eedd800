import { InvalidArgumentError as CliArgError, Option, type Command } from 'commander';
import {
  InvalidArgumentError,
  JobReactorError,
  JobStatus,
  LmdbMonitor,
  RedisMonitor,
  type JobCounts,
  type JobInfo,
  type JobPage,
  type JobRecord,
  type NodeInfo,
  type StorageMonitor,
} from '../index.ts';
import { AdminClient, type AdminFlags } from './admin-client.ts';

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

/** A failure: `code: message` on stderr, exit code 1. */
function report(err: unknown): void {
  const code = err instanceof JobReactorError ? err.code : 'JR_ERR';
  process.stderr.write(`${code}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}

/** Runs `fn` with a monitor; a failure is reported. */
async function withMonitor(
  flags: ConnectionFlags,
  fn: (monitor: StorageMonitor) => Promise<void>,
): Promise<void> {
  let monitor: StorageMonitor | undefined;
  try {
    monitor = monitorFor(flags);
    await fn(monitor);
  } catch (err) {
    report(err);
  } finally {
    await monitor?.close().catch(() => undefined);
  }
}

function withAdminOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--distributor-http <url>',
        "a running distributor's admin API (its http option or httpHandler()), instead of the storage",
      ).env('JR_DISTRIBUTOR_HTTP'),
    )
    .addOption(
      new Option(
        '--token-file <path>',
        'file holding the admin API token (or set JR_ADMIN_TOKEN)',
      ).env('JR_ADMIN_TOKEN_FILE'),
    );
}

/** Runs `fn` against the admin API the flags name; a failure is reported. */
async function withAdmin(
  flags: AdminFlags,
  fn: (api: AdminClient) => Promise<void>,
): Promise<void> {
  try {
    if (flags.distributorHttp === undefined) {
      throw new InvalidArgumentError(
        'this subcommand asks a running distributor: give --distributor-http <url>',
      );
    }
    await fn(new AdminClient({ ...flags, distributorHttp: flags.distributorHttp }));
  } catch (err) {
    report(err);
  }
}

/** `show`/`retry`: `<node> <id>` for the storage, `<id>` for a distributor. */
function nodeAndId(
  flags: AdminFlags,
  first: string,
  second: string | undefined,
): { node: string; id: string } | { id: string } {
  if (flags.distributorHttp !== undefined) {
    if (second !== undefined) {
      throw new InvalidArgumentError('with --distributor-http give the job id only');
    }
    return { id: first };
  }
  if (second === undefined) {
    throw new InvalidArgumentError('give <node> <id> (or --distributor-http <url> and <id>)');
  }
  return { node: first, id: second };
}

const INFO_HEADER = ['NODE', 'ID', 'NAME', 'STATE', 'ATTEMPT', 'DUE', 'LAST ERROR'];

function infoRow(job: JobInfo): string[] {
  return [
    job.node ?? '-',
    job.id,
    job.name,
    job.state,
    String(job.attempt),
    String(job.dueAt),
    job.lastError === undefined ? '-' : `${job.lastError.code}: ${job.lastError.message}`,
  ];
}

const COUNT_KEYS = ['running', 'ready', 'scheduled', 'complete', 'failed'] as const;

function countsTable(c: JobCounts): string {
  const rows = Object.entries(c.nodes).map(([name, n]) => [
    name,
    '-',
    '-',
    ...COUNT_KEYS.map((k) => String(n[k])),
  ]);
  const t = c.total;
  rows.push(['total', String(t.waiting), String(t.sent), ...COUNT_KEYS.map((k) => String(t[k]))]);
  return table(['NODE', 'WAITING', 'SENT', ...COUNT_KEYS.map((k) => k.toUpperCase())], rows);
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
 * (list, nodes, show, retry, remove, remove-all), talking to the storage only; or, with
 * `--distributor-http`, ask a running distributor's admin API (list, nodes, show, retry,
 * and counts, cancel, pause, resume).
 */
export function registerJobsCommand(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('inspect and repair the jobs worker nodes keep in Redis or LMDB');

  withAdminOptions(withConnectionOptions(jobs.command('list')))
    .description('list jobs (of every node, or of one)')
    .option('--node <name>', 'only this node')
    .option('--status <status>', 'only these statuses (comma-separated)', parseStatuses)
    .option('--name <job>', 'only jobs of this name (with --distributor-http)')
    .option('--limit <n>', 'jobs on the page, newest first (with --distributor-http)', '50')
    .option('--cursor <id>', 'the page after this cursor (with --distributor-http)')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: ConnectionFlags &
          AdminFlags & {
            node?: string;
            status?: JobStatus[];
            name?: string;
            limit: string;
            cursor?: string;
            json?: boolean;
          },
      ) => {
        if (flags.distributorHttp !== undefined) {
          return withAdmin(flags, async (api) => {
            const q = new URLSearchParams({ limit: flags.limit });
            for (const st of flags.status ?? []) q.append('state', st);
            if (flags.node !== undefined) q.set('node', flags.node);
            if (flags.name !== undefined) q.set('name', flags.name);
            if (flags.cursor !== undefined) q.set('cursor', flags.cursor);
            const page = await api.get<JobPage>(`jobs?${q.toString()}`);
            if (flags.json) return json(page);
            out(page.jobs.length === 0 ? 'no jobs' : table(INFO_HEADER, page.jobs.map(infoRow)));
            if (page.next !== null) out(`more: --cursor ${page.next}`);
          });
        }
        return withMonitor(flags, async (monitor) => {
          const names =
            flags.node !== undefined ? [flags.node] : (await monitor.nodes()).map((n) => n.name);
          const filter = flags.status !== undefined ? { status: flags.status } : {};
          const found: JobRecord[] = [];
          for (const name of names) {
            // Item by item: a spread of a large node's list would overflow the stack.
            for (const job of await monitor.jobs(name, filter)) found.push(job);
          }
          if (flags.json) return json(found);
          if (found.length === 0) return out('no jobs');
          out(table(JOB_HEADER, found.map(jobRow)));
        });
      },
    );

  withAdminOptions(withConnectionOptions(jobs.command('nodes')))
    .description(
      'list the nodes that keep jobs in the storage (or those connected to a distributor)',
    )
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags & AdminFlags & { json?: boolean }) => {
      if (flags.distributorHttp !== undefined) {
        return withAdmin(flags, async (api) => {
          const { nodes } = await api.get<{ nodes: (NodeInfo & { lagMs: number | null })[] }>(
            'nodes',
          );
          if (flags.json) return json(nodes);
          if (nodes.length === 0) return out('no nodes');
          out(
            table(
              ['NODE', 'REMOTE', 'SLOTS', 'CREDIT', 'STATE', 'LAG'],
              nodes.map((n) => [
                n.name,
                n.remote,
                String(n.capacity),
                String(n.credit),
                n.draining ? 'draining' : n.paused ? 'paused' : 'up',
                n.lagMs === null ? 'no answer' : `${n.lagMs.toFixed(1)} ms`,
              ]),
            ),
          );
        });
      }
      return withMonitor(flags, async (monitor) => {
        const nodes = await monitor.nodes();
        if (flags.json) return json(nodes);
        if (nodes.length === 0) return out('no nodes');
        out(
          table(
            ['NODE', 'JOBS', 'FEEDBACKS'],
            nodes.map((n) => [n.name, String(n.jobs), String(n.feedbacks)]),
          ),
        );
      });
    });

  withAdminOptions(withConnectionOptions(jobs.command('show')))
    .description('show one job')
    .argument('<node|id>', 'node name (the job id alone with --distributor-http)')
    .argument('[id]', 'job id')
    .option('--json', 'print JSON')
    .action(
      async (
        first: string,
        second: string | undefined,
        flags: ConnectionFlags & AdminFlags & { json?: boolean },
      ) => {
        if (flags.distributorHttp !== undefined) {
          return withAdmin(flags, async (api) => {
            const { id } = nodeAndId(flags, first, second);
            const { job } = await api.get<{ job: JobInfo }>(`jobs/${encodeURIComponent(id)}`);
            if (flags.json) return json(job);
            out(
              table(
                ['FIELD', 'VALUE'],
                Object.entries(job).map(([k, v]) => [
                  k,
                  typeof v === 'object' ? JSON.stringify(v) : String(v),
                ]),
              ),
            );
          });
        }
        return withMonitor(flags, async (monitor) => {
          const { node, id } = nodeAndId(flags, first, second) as { node: string; id: string };
          const job = await monitor.load(node, id);
          if (job === undefined) throw new InvalidArgumentError(`no job ${id} on node ${node}`);
          if (flags.json) return json(job);
          out(describeJob(job));
        });
      },
    );

  withAdminOptions(withConnectionOptions(jobs.command('retry')))
    .description(
      'put a failed job back to status error, due now (a running distributor has its node run it now; in the storage, its node runs it when it next starts)',
    )
    .argument('<node|id>', 'node name (the job id alone with --distributor-http)')
    .argument('[id]', 'job id')
    .action(
      async (first: string, second: string | undefined, flags: ConnectionFlags & AdminFlags) => {
        if (flags.distributorHttp !== undefined) {
          return withAdmin(flags, async (api) => {
            const { id } = nodeAndId(flags, first, second);
            const { job } = await api.post<{ job: JobInfo }>(
              `jobs/${encodeURIComponent(id)}/retry`,
            );
            out(`job ${job.id} on node ${job.node ?? '-'}: retried, now ${job.state}`);
          });
        }
        return withMonitor(flags, async (monitor) => {
          const { node, id } = nodeAndId(flags, first, second) as { node: string; id: string };
          const job = await monitor.retry(node, id);
          out(
            `job ${job.id} on node ${node}: failed -> ${job.status}, attempt 0, due ${iso(job.dueAt)} ` +
              '(a running node picks it up when it restarts)',
          );
        });
      },
    );

  withAdminOptions(jobs.command('counts'))
    .description("a running distributor's job counts, per node and in total")
    .option('--json', 'print JSON')
    .action(async (flags: AdminFlags & { json?: boolean }) =>
      withAdmin(flags, async (api) => {
        const counts = await api.get<JobCounts>('counts');
        if (flags.json) return json(counts);
        out(countsTable(counts));
      }),
    );

  withAdminOptions(jobs.command('cancel'))
    .description('cancel a job a running distributor tracks')
    .argument('<id>', 'job id')
    .action(async (id: string, flags: AdminFlags) =>
      withAdmin(flags, async (api) => {
        const r = await api.post<{ cancelled: boolean }>(`jobs/${encodeURIComponent(id)}/cancel`);
        if (!r.cancelled) {
          throw new InvalidArgumentError(
            `job ${id} is not tracked by the distributor (unknown or finished)`,
          );
        }
        out(`job ${id} cancelled`);
      }),
    );

  for (const op of ['pause', 'resume'] as const) {
    withAdminOptions(jobs.command(op))
      .description(
        op === 'pause' ? 'a running distributor sends no job until resumed' : 'undo pause',
      )
      .action(async (flags: AdminFlags) =>
        withAdmin(flags, async (api) => {
          const r = await api.post<{ paused: boolean }>(op);
          out(r.paused ? 'distributor paused' : 'distributor resumed');
        }),
      );
  }

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
