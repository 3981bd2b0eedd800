import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AuthFailedError, AuthRequiredError, InvalidArgumentError } from '../errors.ts';

/** The header a mutating request must carry (or a JSON body): a form cannot set it. */
export const CSRF_HEADER = 'x-jobreactor';

const LOOPBACK_ADDRESS = /^(127\.|::1$|::ffff:127\.)/;
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

export function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && LOOPBACK_ADDRESS.test(address);
}

/**
 * Who may use the admin API. With a token: every API request carries
 * `Authorization: Bearer <token>` (compared in constant time). Without one: only requests
 * that reached a loopback address and name a loopback host (a page of another site that
 * resolves its name to 127.0.0.1, DNS rebinding, names its own host and is refused).
 */
export class AdminAuth {
  readonly #digest: Buffer | undefined;

  constructor(token: string | undefined) {
    if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
      throw new InvalidArgumentError(
        'the admin API token must be a string of 16 characters or more',
      );
    }
    this.#digest = token === undefined ? undefined : digest(token);
  }

  get hasToken(): boolean {
    return this.#digest !== undefined;
  }

  /** Throws AuthRequiredError / AuthFailedError unless `req` may read the API. */
  check(req: IncomingMessage): void {
    if (this.#digest === undefined) {
      if (
        !isLoopbackAddress(req.socket.localAddress) ||
        !LOOPBACK_HOST.test(req.headers.host ?? '')
      ) {
        throw new AuthRequiredError(
          'the admin API without a token answers loopback requests only: set a token',
        );
      }
      return;
    }
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
    if (match === null) throw new AuthRequiredError('missing Authorization: Bearer <token>');
    if (!timingSafeEqual(digest(match[1]!), this.#digest)) {
      throw new AuthFailedError('wrong admin API token');
    }
  }

  /**
   * CSRF guard of the mutating requests (POST): a JSON body or the custom header (neither
   * can come from a plain form or image), and an Origin, when sent, of this very host.
   */
  checkMutation(req: IncomingMessage): void {
    const type = req.headers['content-type'] ?? '';
    if (req.headers[CSRF_HEADER] === undefined && !/^application\/json\b/i.test(type)) {
      throw new AuthFailedError(
        `a POST needs Content-Type: application/json or a ${CSRF_HEADER} header`,
      );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let host: string;
      try {
        host = new URL(origin).host;
      } catch {
        throw new AuthFailedError('malformed Origin header');
      }
      if (host !== req.headers.host)
        throw new AuthFailedError(`cross-origin request from ${origin}`);
    } else if (origin === 'null') {
      throw new AuthFailedError('request from an opaque origin');
    }
  }
}

/** Fixed-length digests, so the comparison's time says nothing about the token's length. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
