import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ErrorCodes,
  InvalidArgumentError,
  JobReactorError,
  PayloadTooLargeError,
  TimeoutError,
  toErrorInfo,
} from '../errors.ts';

/** Largest request body the admin API reads, bytes (its bodies are a few ids). */
export const MAX_BODY_BYTES = 16 * 1024;
/** A body not complete after this long is refused (a slow client holds nothing for long). */
export const BODY_TIMEOUT_MS = 10_000;

/** HTTP status of each library error code the admin API answers with (500 otherwise). */
const STATUS_OF: Readonly<Record<string, number>> = {
  [ErrorCodes.InvalidArgument]: 400,
  [ErrorCodes.AuthRequired]: 401,
  [ErrorCodes.AuthFailed]: 403,
  [ErrorCodes.NotFound]: 404,
  [ErrorCodes.PayloadTooLarge]: 413,
  [ErrorCodes.Connection]: 502,
  [ErrorCodes.Closed]: 503,
  [ErrorCodes.Timeout]: 504,
};

/** An admin API error that says which HTTP method is allowed (405). */
export class MethodNotAllowed extends InvalidArgumentError {
  constructor(readonly allow: string) {
    super(`method not allowed here (use ${allow})`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/** `{ error: { code, message } }` with the status its code maps to; never throws. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const info = toErrorInfo(err);
  const known = err instanceof JobReactorError;
  let status = known ? (STATUS_OF[info.code] ?? 500) : 500;
  if (err instanceof MethodNotAllowed) {
    status = 405;
    res.setHeader('allow', err.allow);
  }
  // An unexpected error's message may say more than a client should see.
  const message = known ? info.message : 'internal error';
  sendJson(res, status, { error: { code: known ? info.code : ErrorCodes.Base, message } });
}

/**
 * The request's JSON body (an object; `{}` when empty), read up to MAX_BODY_BYTES within
 * BODY_TIMEOUT_MS. Rejects with PayloadTooLargeError, TimeoutError or InvalidArgumentError.
 */
export function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new PayloadTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      finish(new TimeoutError(`request body not received within ${BODY_TIMEOUT_MS} ms`));
    }, BODY_TIMEOUT_MS);
    timer.unref();
    let done = false;
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      if (err !== undefined) {
        // Stop reading what is left; the answer still goes out.
        req.resume();
        reject(err);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish(new PayloadTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', (err) => finish(err));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return finish(undefined, {});
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return finish(new InvalidArgumentError('request body is not valid JSON'));
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return finish(new InvalidArgumentError('request body must be a JSON object'));
      }
      finish(undefined, parsed as Record<string, unknown>);
    });
  });
}
