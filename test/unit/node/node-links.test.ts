import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/model/logger.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';
import type { LinkHandlers } from '../../../src/node/links/distributor-link.ts';
import { createDistributorLinks } from '../../../src/node/links/node-links.ts';
import type { Logger } from '../../../src/model/logger.ts';
import {
  rawSpec,
  startRawDistributor,
  type RawDistributor,
} from '../../helpers/raw-distributor.ts';
import { waitUntil } from '../../helpers/wait.ts';
import {
  NODE_DEFAULTS,
  resolveNodeOptions,
  type NodeOptions,
} from '../../../src/node/node-options.ts';

/** The links' part of a node's resolved options. */
const resolved = (o: Omit<NodeOptions, 'name'>) => resolveNodeOptions({ name: 'n1', ...o });

const handlers: LinkHandlers = {
  onReady: vi.fn(),
  jobs: vi.fn(),
  acked: vi.fn(),
  owned: vi.fn(),
  cancel: vi.fn(),
  limits: vi.fn(),
  granted: vi.fn(),
  query: vi.fn(),
  onDown: vi.fn(),
  onRejected: vi.fn(),
  onRoom: vi.fn(),
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

describe('distributor link - the message switch', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('distributor link - each message kind goes to its handler; the jobs carry the link’s distributor', async () => {
    const raw: RawDistributor = await startRawDistributor({ id: 'd-raw' });
    cleanups.push(() => raw.close());
    const calls: Array<[string, unknown]> = [];
    const warned: unknown[] = [];
    const log: Logger = { ...silentLogger, warn: (fields) => void warned.push(fields) };
    const spy: LinkHandlers = {
      onReady: () => void calls.push(['ready', null]),
      onDown: () => {},
      onRejected: () => {},
      onRoom: () => {},
      jobs: (_l, specs) => void calls.push(['jobs', specs.map((s) => [s.id, s.distributor])]),
      acked: (_l, keys) => void calls.push(['acked', keys]),
      owned: (_l, ids) => void calls.push(['owned', ids]),
      cancel: (_l, id, req) => void calls.push(['cancel', [id, req]]),
      limits: (_l, names) => void calls.push(['limits', names]),
      granted: (_l, ids) => void calls.push(['granted', ids]),
      query: (_l, q) => void calls.push(['query', q.req]),
    };
    const [link] = createDistributorLinks(
      resolved({ distributors: [`127.0.0.1:${raw.port}`] }),
      hello,
      log,
      spy,
    );
    cleanups.push(() => link!.stop());
    link!.start();
    await waitUntil(() => link!.ready && raw.connected(), 5000, 'the link');
    // A job tuple carries no distributor (whatever the sender's spec says): the link's id.
    raw.send({ t: 'jobs', jobs: [rawSpec('j1', 'x', 'someone-else'), rawSpec('j2', 'x', '')] });
    raw.send({ t: 'fback', keys: ['k1'] });
    raw.send({ t: 'owned', ids: ['j1'] });
    raw.send({ t: 'cancel', id: 'j2', req: 7 });
    raw.send({ t: 'limits', names: ['mail'] });
    raw.send({ t: 'granted', ids: ['j3'] });
    raw.send({ t: 'query', req: 9 });
    raw.send({ t: 'credit', n: 1 }); // a node's message: not the distributor's to send
    await waitUntil(() => warned.length === 1, 5000, 'the unexpected message');
    expect(calls).toEqual([
      ['ready', null],
      [
        'jobs',
        [
          ['j1', 'd-raw'],
          ['j2', 'd-raw'],
        ],
      ],
      ['acked', ['k1']],
      ['owned', ['j1']],
      ['cancel', ['j2', 7]],
      ['limits', ['mail']],
      ['granted', ['j3']],
      ['query', 9],
    ]);
    expect(warned[0]).toMatchObject({ type: 'credit' });
  });
});
