import { readFileSync } from 'node:fs';
import { ConnectionError, InvalidArgumentError, JobReactorError, TimeoutError } from '../index.ts';

/** How long the CLI waits for the admin API (which itself waits up to 5 s for nodes). */
const REQUEST_TIMEOUT_MS = 15_000;

/** An error the admin API answered with: its library code, as the API gave it. */
export class AdminApiError extends JobReactorError {
  constructor(code: string, message: string) {
    super(message, { code });
  }
}

/** The flags that point the CLI at a running distributor's admin API. */
export interface AdminFlags {
  distributorHttp?: string;
  tokenFile?: string;
}

/**
 * A client of a running distributor's admin HTTP API (`distributor.httpHandler()` or the
 * `http` option): what `jobreactor jobs … --distributor-http <url>` reads and does. The
 * token comes from `--token-file` or `JR_ADMIN_TOKEN`, never from a flag `ps` would show.
 */
export class AdminClient {
  readonly #base: URL;
  readonly #token: string | undefined;

  constructor(flags: AdminFlags & { distributorHttp: string }) {
    let base: URL;
    try {
      base = new URL(
        flags.distributorHttp.endsWith('/') ? flags.distributorHttp : `${flags.distributorHttp}/`,
      );
    } catch {
      throw new InvalidArgumentError(
        `--distributor-http must be a URL like http://127.0.0.1:8080 (got ${JSON.stringify(flags.distributorHttp)})`,
      );
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new InvalidArgumentError('--distributor-http must be an http:// or https:// URL');
    }
    this.#base = base;
    this.#token =
      flags.tokenFile !== undefined
        ? readFileSync(flags.tokenFile, 'utf8').trim()
        : process.env.JR_ADMIN_TOKEN || undefined;
  }

  get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  post<T>(path: string): Promise<T> {
    return this.#call<T>('POST', path);
  }

  async #call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const url = new URL(`api/${path}`, this.#base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (method === 'POST') headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(method === 'POST' ? { body: '{}' } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new TimeoutError(`${url.origin} did not answer in ${REQUEST_TIMEOUT_MS} ms`);
      }
      throw new ConnectionError(`cannot reach the admin API at ${url.origin}`, { cause: err });
    }
    const body = (await res.json().catch(() => undefined)) as
      { error?: { code?: unknown; message?: unknown } } | undefined;
    if (!res.ok) {
      const e = body?.error;
      throw new AdminApiError(
        typeof e?.code === 'string' ? e.code : 'JR_ERR',
        typeof e?.message === 'string' ? e.message : `HTTP ${res.status} from ${url.pathname}`,
      );
    }
    if (body === undefined) throw new AdminApiError('JR_ERR', `no JSON from ${url.pathname}`);
    return body as T;
  }
}
