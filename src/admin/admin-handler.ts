import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Distributor } from '../distributor/distributor.ts';
import type { JobListFilter } from '../distributor/job-queries.ts';
import { InvalidArgumentError, NotFoundError } from '../errors.ts';
import { systemClock } from '../model/clock.ts';
import type { Feedback, JobSpec } from '../model/job.ts';
import { assertKnownOptions, type OptionKeys } from '../model/known-options.ts';
import type { MetricsRegistry } from '../metrics/registry.ts';
import { AdminAuth } from './admin-auth.ts';
import { DashboardAssets } from './dashboard-assets.ts';
import { MethodNotAllowed, readJsonBody, sendError, sendJson } from './http-io.ts';
import { ThroughputRing } from './throughput-series.ts';

/** A node:http request handler; Express and Fastify (`fastify.raw`) mount it as is. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Options of `distributor.httpHandler()`. */
export interface AdminHandlerOptions {
  /**
   * Bearer token every API request must carry (`Authorization: Bearer …`), 16 characters
   * or more. Without one, only loopback requests are answered. @default none
   */
  token?: string;
  /** How long a node may take to answer the API's questions, ms. @default 5000 */
  timeoutMs?: number;
  /**
   * Where the handler is mounted (Express `app.use('/jobs', …)` strips it, node:http does
   * not): requests under it are served, others get 404. @default ''
   */
  basePath?: string;
}

const ADMIN_HANDLER_KEYS = {
  token: true,
  timeoutMs: true,
  basePath: true,
} as const satisfies OptionKeys<AdminHandlerOptions>;

const DEFAULT_TIMEOUT_MS = 5000;
/** How long a node's round trip may take before the nodes list shows it as lagging (null). */
const PING_TIMEOUT_MS = 1000;

/** What the API reads and does: the distributor's public methods. */
export type AdminTarget = Pick<
  Distributor,
  | 'id'
  | 'paused'
  | 'nodes'
  | 'ping'
  | 'counts'
  | 'getJob'
  | 'listJobs'
  | 'retryJob'
  | 'cancelJob'
  | 'pause'
  | 'resume'
  | 'stats'
  | 'on'
>;

type Route = (req: IncomingMessage, url: URL, match: RegExpExecArray) => Promise<unknown>;

/**
 * The admin HTTP API and the dashboard: JSON under `/api/`, the dashboard's files at `/`.
 * Every failure is a JSON error with a library code; a handler never throws into the server.
 */
/** The distributor's internal feed of finished tracked jobs (their spec, for latencies). */
export type FinishedFeed = (
  listener: (spec: JobSpec, fb: Feedback, now: number) => void,
) => () => void;

export function createAdminHandler(
  target: AdminTarget,
  options: AdminHandlerOptions = {},
  metrics?: MetricsRegistry,
  finished?: FinishedFeed,
): AdminHandler {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('httpHandler options must be an object');
  }
  assertKnownOptions(options, ADMIN_HANDLER_KEYS, 'httpHandler');
  const auth = new AdminAuth(options.token);
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeout) || timeout < 1) {
    throw new InvalidArgumentError(`timeoutMs must be a whole number ≥ 1 (got ${String(timeout)})`);
  }
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  const assets = new DashboardAssets();
  const series = new ThroughputRing(systemClock);
  target.on('feedback', series.record);
  finished?.(series.turnaround);
  const t = { timeout };

  const get: [RegExp, Route][] = [
    [/^\/api\/status$/, async () => ({ id: target.id, paused: target.paused, ...target.stats() })],
    [/^\/api\/nodes$/, async () => ({ nodes: await nodesWithLag(target) })],
    [/^\/api\/counts$/, () => target.counts(t)],
    [/^\/api\/series$/, async () => series.snapshot()],
    [/^\/api\/jobs$/, (_req, url) => target.listJobs(listFilter(url), t)],
    [
      /^\/api\/jobs\/([^/]+)$/,
      async (_req, _url, m) => {
        const id = decodeId(m[1]!);
        const job = await target.getJob(id, t);
        if (job === null) throw new NotFoundError(`no job ${id}`);
        return { job };
      },
    ],
  ];
  const post: [RegExp, Route][] = [
    [
      /^\/api\/jobs\/([^/]+)\/retry$/,
      async (_q, _u, m) => ({ job: await target.retryJob(decodeId(m[1]!), t) }),
    ],
    [
      /^\/api\/jobs\/([^/]+)\/cancel$/,
      async (_q, _u, m) => ({ cancelled: await target.cancelJob(decodeId(m[1]!)) }),
    ],
    [/^\/api\/pause$/, async () => (await target.pause(), { paused: true })],
    [/^\/api\/resume$/, async () => (await target.resume(), { paused: false })],
  ];

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    if (!url.pathname.startsWith(base)) throw new NotFoundError(`no route ${url.pathname}`);
    const path = url.pathname.slice(base.length) || '/';
    if (path === '/metrics') {
      // Prometheus text; behind the token like the API (a scraper sends it as a bearer token).
      auth.check(req);
      if (req.method !== 'GET') throw new MethodNotAllowed('GET');
      if (metrics === undefined) {
        throw new NotFoundError('metrics are off: start the distributor with the metrics option');
      }
      const text = await metrics.metrics();
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (!path.startsWith('/api/')) {
      // The dashboard's files hold no data: served without the token (the page asks for it).
      if (!assets.has(path)) throw new NotFoundError(`no route ${path}`);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowed('GET');
      const file = await assets.get(path);
      res.writeHead(200, {
        'content-type': `${file.type}; charset=utf-8`,
        'content-length': file.body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy':
          "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
      });
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return;
    }
    auth.check(req);
    const isPost = req.method === 'POST';
    const routes = isPost ? post : get;
    for (const [pattern, route] of routes) {
      const m = pattern.exec(path);
      if (m === null) continue;
      if (isPost) {
        auth.checkMutation(req);
        await readJsonBody(req); // bounded and timed; the routes take no body fields yet
      } else if (req.method !== 'GET') {
        throw new MethodNotAllowed('GET');
      }
      sendJson(res, 200, await route(req, url, m));
      return;
    }
    const other = (isPost ? get : post).some(([pattern]) => pattern.test(path));
    if (other) throw new MethodNotAllowed(isPost ? 'GET' : 'POST');
    throw new NotFoundError(`no route ${path}`);
  }

  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      // Unread bodies of refused requests are drained so the connection can be reused.
      if (!req.complete) req.resume();
      sendError(res, err);
    });
  };
}

async function nodesWithLag(target: AdminTarget) {
  const nodes = target.nodes();
  const lags = await Promise.all(
    nodes.map((n) => target.ping(n.name, { timeout: PING_TIMEOUT_MS }).catch(() => null)),
  );
  return nodes.map((n, i) => ({ ...n, lagMs: lags[i] }));
}

function decodeId(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidArgumentError('malformed job id in the path');
  }
}

const LIST_PARAMS = new Set(['state', 'name', 'node', 'cursor', 'limit']);

/** `?state=failed&state=error&name=…&node=…&cursor=…&limit=…` as a listJobs filter. */
function listFilter(url: URL): JobListFilter {
  const filter: Record<string, unknown> = {};
  for (const key of url.searchParams.keys()) {
    if (!LIST_PARAMS.has(key)) {
      throw new InvalidArgumentError(
        `unknown query parameter '${key}' (known: ${[...LIST_PARAMS].join(', ')})`,
      );
    }
  }
  const states = url.searchParams.getAll('state').flatMap((s) => s.split(','));
  if (states.length > 0) filter.state = states;
  for (const key of ['name', 'node', 'cursor'] as const) {
    const v = url.searchParams.get(key);
    if (v !== null) filter[key] = v;
  }
  const limit = url.searchParams.get('limit');
  if (limit !== null) {
    if (!/^\d{1,6}$/.test(limit)) throw new InvalidArgumentError('limit must be a whole number');
    filter.limit = Number(limit);
  }
  return filter;
}
