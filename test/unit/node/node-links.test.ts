import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/model/logger.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import type { LinkHandlers } from '../../../src/node/links/distributor-link.ts';
import { createDistributorLinks } from '../../../src/node/links/node-links.ts';
import {
  NODE_DEFAULTS,
  resolveNodeOptions,
  type NodeOptions,
} from '../../../src/node/node-options.ts';

/** The links' part of a node's resolved options. */
const resolved = (o: Omit<NodeOptions, 'name'>) => resolveNodeOptions({ name: 'n1', ...o });

const handlers: LinkHandlers = {
  onReady: vi.fn(),
  onMessage: vi.fn(),
  onDown: vi.fn(),
  onRejected: vi.fn(),
};
const hello = () => ({
  node: 'n1',
  instance: 'i1',
  capacity: 4,
  window: 8,
  windowBytes: 1024,
  durable: false,
  jobs: [],
});

describe('node links', () => {
  it('node links - one idle link per address, with the node defaults', () => {
    const links = createDistributorLinks(
      resolved({
        distributors: ['127.0.0.1:7001', { host: 'h', port: 7002 }, '[::1]:7003'],
        secret: 's',
      }),
      hello,
      silentLogger,
      handlers,
    );
    expect(links.map((l) => l.address)).toEqual(['127.0.0.1:7001', 'h:7002', '::1:7003']);
    for (const link of links) {
      expect(link.ready).toBe(false);
      expect(link.handlers).toBe(handlers);
      expect(link.options).toMatchObject({
        secret: 's',
        hello,
        connection: {
          maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
          heartbeatMs: NODE_DEFAULTS.heartbeatMs,
        },
        handshakeTimeoutMs: NODE_DEFAULTS.handshakeTimeoutMs,
        log: silentLogger,
      });
    }
  });

  it('node links - connection options come from the node options', () => {
    const [link] = createDistributorLinks(
      resolved({
        distributors: ['d:1'],
        maxFrameSize: 1024,
        heartbeatMs: 50,
        handshakeTimeoutMs: 300,
      }),
      hello,
      silentLogger,
      handlers,
    );
    expect(link!.options).toMatchObject({
      secret: undefined,
      connection: { maxFrameSize: 1024, heartbeatMs: 50 },
      handshakeTimeoutMs: 300,
    });
  });

  it('node links - a bad address throws InvalidArgumentError (when the options are resolved)', () => {
    expect(() => resolved({ distributors: ['nohost'] })).toThrow(InvalidArgumentError);
  });
});
