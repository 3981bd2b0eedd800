import type { Logger } from '../../model/logger.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../protocol/codec.ts';
import { resolveClientTls } from '../../transport/tls-options.ts';
import { DistributorLink, type LinkHandlers, type LinkOptions } from './distributor-link.ts';
import { NODE_DEFAULTS, parseAddress, type NodeOptions } from '../node-options.ts';

/** The node options that shape its distributor links. */
export type LinkNodeOptions = Pick<
  NodeOptions,
  'distributors' | 'secret' | 'tls' | 'maxFrameSize' | 'heartbeatMs' | 'handshakeTimeoutMs'
>;

/**
 * One (not yet started) DistributorLink per address in `options.distributors`, all sharing
 * the node's `hello` and `handlers`. A bad address throws InvalidArgumentError, bad TLS
 * material TlsConfigError (loaded once, for every link).
 */
export function createDistributorLinks(
  options: LinkNodeOptions,
  hello: LinkOptions['hello'],
  log: Logger,
  handlers: LinkHandlers,
): DistributorLink[] {
  const connection = {
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    heartbeatMs: options.heartbeatMs ?? NODE_DEFAULTS.heartbeatMs,
    tls: resolveClientTls(options.tls),
  };
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? NODE_DEFAULTS.handshakeTimeoutMs;
  return options.distributors.map((address) => {
    const { host, port } = parseAddress(address);
    return new DistributorLink(
      { host, port, secret: options.secret, hello, connection, handshakeTimeoutMs, log },
      handlers,
    );
  });
}
