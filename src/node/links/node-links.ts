import type { Logger } from '../../model/logger.ts';
import { resolveClientTls } from '../../transport/tls-options.ts';
import { DistributorLink, type LinkHandlers, type LinkOptions } from './distributor-link.ts';
import type { ResolvedNodeOptions } from '../node-options.ts';

/** The node options that shape its distributor links. */
export type LinkNodeOptions = Pick<
  ResolvedNodeOptions,
  'distributors' | 'secret' | 'tls' | 'maxFrameSize' | 'heartbeatMs' | 'handshakeTimeoutMs'
>;

/**
 * One (not yet started) DistributorLink per address in `options.distributors`, all sharing
 * the node's `hello` and `handlers`. Bad TLS material throws TlsConfigError (loaded once,
 * for every link).
 */
export function createDistributorLinks(
  options: LinkNodeOptions,
  hello: LinkOptions['hello'],
  log: Logger,
  handlers: LinkHandlers,
): DistributorLink[] {
  const connection = {
    maxFrameSize: options.maxFrameSize,
    heartbeatMs: options.heartbeatMs,
    tls: resolveClientTls(options.tls),
  };
  const handshakeTimeoutMs = options.handshakeTimeoutMs;
  return options.distributors.map(({ host, port }) => {
    return new DistributorLink(
      { host, port, secret: options.secret, hello, connection, handshakeTimeoutMs, log },
      handlers,
    );
  });
}
