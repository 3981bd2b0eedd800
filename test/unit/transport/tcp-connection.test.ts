import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConnectionError,
  ErrorCodes,
  JobReactorError,
  PeerTimeoutError,
  ProtocolError,
  RemoteError,
  SlowConsumerError,
  InvalidArgumentError,
} from '../../../src/errors.ts';
import { encodeFrame } from '../../../src/protocol/codec.ts';
import { FrameDecoder } from '../../../src/protocol/framer.ts';
import type { Message } from '../../../src/protocol/messages.ts';
import { TcpConnection } from '../../../src/transport/tcp-connection.ts';
import { connectTcp, listenTcp } from '../../../src/transport/tcp-endpoints.ts';
import type { TcpConnectionOptions } from '../../../src/transport/tcp-connection.ts';
import type { TcpListener } from '../../../src/transport/tcp-endpoints.ts';
import { resolveClientTls } from '../../../src/transport/tls-options.ts';
import { makeTestCerts } from '../../helpers/tls-certs.ts';
import { sampleMessages, wireJob } from '../protocol/sample-messages.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(opts: TcpConnectionOptions = {}): Promise<{
  listener: TcpListener;
  accepted: TcpConnection[];
  next: () => Promise<TcpConnection>;
}> {
  const accepted: TcpConnection[] = [];
  const waiters: Array<(c: TcpConnection) => void> = [];
  const listener = await listenTcp(
    '127.0.0.1',
    0,
    (c) => {
      accepted.push(c);
      waiters.shift()?.(c);
    },
    opts,
  );
  cleanups.push(() => listener.close());
  let taken = 0;
  const next = (): Promise<TcpConnection> =>
    taken < accepted.length
      ? Promise.resolve(accepted[taken++]!)
      : new Promise((resolve) => {
          waiters.push((c) => {
            taken++;
            resolve(c);
          });
        });
  return { listener, accepted, next };
}

async function pair(opts: TcpConnectionOptions = {}) {
  const server = await listen(opts);
  const client = await connectTcp('127.0.0.1', server.listener.address.port, opts);
  cleanups.push(() => client.close());
  const accepted = await server.next();
  return { ...server, client, accepted };
}

function collect(conn: TcpConnection): Message[] {
  const got: Message[] = [];
  conn.onMessage((m) => got.push(m));
  return got;
}

function closedWith(conn: TcpConnection): Promise<Error | undefined> {
  return new Promise((resolve) => conn.onClose(resolve));
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new ProtocolError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw socket to the listener, with every frame it receives decoded (and EOF noted). */
/**
 * A plain TCP server whose sockets are paused (they read nothing until resumed); `onSocket`
 * may make them do more. Closed after the test.
 */
async function pausedServer(onSocket: (s: net.Socket) => void = () => {}) {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.pause();
    onSocket(s);
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

async function rawPeer(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  cleanups.push(() => void socket.destroy());
  const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
  const received: Message[] = [];
  let ended = false;
  socket.on('data', (chunk) => received.push(...decoder.push(chunk)));
  socket.on('error', () => {});
  socket.on('close', () => (ended = true));
  return { socket, received, ended: () => ended };
}

describe('tcp-connection', () => {
  it('tcp-connection - messages both ways', async () => {
    const { client, accepted } = await pair();
    const atServer = collect(accepted);
    const atClient = collect(client);
    for (const m of sampleMessages) {
      if (m.t === 'ping' || m.t === 'pong' || m.t === 'error') continue;
      client.send(m);
      accepted.send(m);
    }
    const expected = sampleMessages.filter((m) => !['ping', 'pong', 'error'].includes(m.t));
    await until(
      () => atServer.length === expected.length && atClient.length === expected.length,
      'messages',
    );
    expect(atServer).toEqual(expected);
    expect(atClient).toEqual(expected);
    expect(client.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('tcp-connection - a burst sent in one tick arrives in order, in one write', async () => {
    const server = await listen();
    const socket = net.connect({ host: '127.0.0.1', port: server.listener.address.port });
    await new Promise((r) => socket.once('connect', r));
    const client = new TcpConnection(socket);
    cleanups.push(() => client.close());
    const write = vi.spyOn(socket, 'write');
    const accepted = await server.next();
    const got = collect(accepted);
    for (let i = 0; i < 1000; i++) client.send({ t: 'cancel', id: `job-${i}`, req: i });
    expect(write).not.toHaveBeenCalled(); // nothing leaves before the turn ends
    await until(() => got.length === 1000, 'the burst');
    expect(got.map((m) => (m.t === 'cancel' ? m.req : -1))).toEqual([...Array(1000).keys()]);
    expect(write).toHaveBeenCalledTimes(1);
  });

  it('tcp-connection - sends across awaits in one turn still share a write', async () => {
    const server = await listen();
    const socket = net.connect({ host: '127.0.0.1', port: server.listener.address.port });
    await new Promise((r) => socket.once('connect', r));
    const client = new TcpConnection(socket);
    cleanups.push(() => client.close());
    const write = vi.spyOn(socket, 'write');
    const accepted = await server.next();
    const got = collect(accepted);
    for (let i = 0; i < 10; i++) {
      client.send({ t: 'credit', n: i });
      await Promise.resolve();
    }
    await until(() => got.length === 10, 'the messages');
    expect(write).toHaveBeenCalledTimes(1);
  });

  it('tcp-connection - a garbage-sending peer gets an error frame and is closed; others carry on', async () => {
    const { listener, client, accepted } = await pair();
    const good = collect(accepted);
    const raw = await rawPeer(listener.address.port);
    raw.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await until(() => raw.ended(), 'the garbage peer to be closed');
    expect(raw.received).toHaveLength(1);
    const err = raw.received[0]!;
    expect(err.t === 'error' && err.error.code).toBe(ErrorCodes.MalformedFrame);
    client.send({ t: 'credit', n: 1 });
    await until(() => good.length === 1, 'the good connection');
    expect(client.closed).toBe(false);
    expect(accepted.closed).toBe(false);
  });

  it('tcp-connection - an oversized frame header closes only that connection (FRAME_TOO_LARGE)', async () => {
    const { listener, client, accepted } = await pair({ maxFrameSize: 64 * 1024 });
    const good = collect(accepted);
    const raw = await rawPeer(listener.address.port);
    const header = Buffer.from([1, 0, 0, 0, 0]);
    header.writeUInt32BE(64 * 1024 + 1, 1);
    raw.socket.write(header);
    await until(() => raw.ended(), 'the oversized peer to be closed');
    expect(raw.received.map((m) => m.t === 'error' && m.error.code)).toEqual([
      ErrorCodes.FrameTooLarge,
    ]);
    client.send({ t: 'drain' });
    await until(() => good.length === 1, 'the good connection');
  });

  it('tcp-connection - the server side sees the decode error as its close reason', async () => {
    const server = await listen();
    const raw = await rawPeer(server.listener.address.port);
    const conn = await server.next();
    const reason = closedWith(conn);
    raw.socket.write(Buffer.from([7]));
    const err = await reason;
    expect(err).toBeInstanceOf(JobReactorError);
    expect((err as JobReactorError).code).toBe(ErrorCodes.MalformedFrame);
  });

  it('tcp-connection - a silent peer is detected (PeerTimeoutError)', async () => {
    const server = await listen({ heartbeatMs: 50, peerTimeoutMs: 150 });
    const raw = await rawPeer(server.listener.address.port);
    const conn = await server.next();
    const reason = await closedWith(conn);
    expect(reason).toBeInstanceOf(PeerTimeoutError);
    expect(raw.received.some((m) => m.t === 'ping')).toBe(true);
  });

  it('tcp-connection - a peer dribbling one frame past frameDeadlineMs is cut', async () => {
    const server = await listen({ frameDeadlineMs: 100 });
    const raw = await rawPeer(server.listener.address.port);
    const conn = await server.next();
    const reason = closedWith(conn);
    const frame = encodeFrame({ t: 'jobs', jobs: [wireJob] });
    let i = 0;
    const timer = setInterval(() => {
      if (i < frame.length && !raw.ended()) raw.socket.write(frame.subarray(i, ++i));
    }, 10);
    cleanups.push(() => clearInterval(timer));
    const err = await reason;
    expect(err).toBeInstanceOf(PeerTimeoutError);
    expect((err as Error).message).toMatch(/one frame/);
    expect(i).toBeLessThan(frame.length);
  });

  it('tcp-connection - idle peers keep each other alive with pings', async () => {
    const { client, accepted } = await pair({ heartbeatMs: 30, peerTimeoutMs: 100 });
    const got = collect(accepted);
    await new Promise((r) => setTimeout(r, 400));
    expect(client.closed).toBe(false);
    expect(accepted.closed).toBe(false);
    expect(got).toEqual([]); // ping/pong never reach handlers
  });

  it('tcp-connection - ping is answered with pong and not passed on', async () => {
    const server = await listen();
    const raw = await rawPeer(server.listener.address.port);
    const conn = await server.next();
    const got = collect(conn);
    raw.socket.write(encodeFrame({ t: 'ping' }));
    await until(() => raw.received.some((m) => m.t === 'pong'), 'a pong');
    expect(got).toEqual([]);
  });

  it('tcp-connection - close(reason) tells the peer, both sides get the reason', async () => {
    const { client, accepted } = await pair();
    const atClient = closedWith(client);
    const atServer = closedWith(accepted);
    client.send({ t: 'drain' }); // queued before the close: still delivered
    const got = collect(accepted);
    client.close(new ProtocolError('you broke it'));
    expect(client.closed).toBe(true);
    const [c, s] = await Promise.all([atClient, atServer]);
    expect(c).toBeInstanceOf(ProtocolError);
    expect(s).toBeInstanceOf(RemoteError);
    expect((s as RemoteError).code).toBe(ErrorCodes.Protocol);
    expect((s as RemoteError).remoteName).toBe('ProtocolError');
    expect(got).toEqual([{ t: 'drain' }]);
  });

  it('tcp-connection - a clean close gives undefined on both sides, exactly once', async () => {
    const { client, accepted } = await pair();
    const calls: Array<Error | undefined> = [];
    client.onClose((r) => calls.push(r));
    const atServer = closedWith(accepted);
    client.close();
    client.close(new ProtocolError('ignored: already closing'));
    expect(await atServer).toBeUndefined();
    await until(() => calls.length > 0, 'client close');
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([undefined]);
    // Late registration still hears about it.
    expect(await closedWith(client)).toBeUndefined();
    client.send({ t: 'drain' }); // dropped, no throw
  });

  it('tcp-connection - messages that arrive before any handler are held for the first one', async () => {
    const { client, accepted } = await pair();
    client.send({ t: 'credit', n: 1 });
    client.send({ t: 'credit', n: 2 });
    await new Promise((r) => setTimeout(r, 50));
    const a: Message[] = [];
    const b: Message[] = [];
    accepted.onMessage((m) => a.push(m));
    accepted.onMessage((m) => b.push(m));
    client.send({ t: 'credit', n: 3 });
    await until(() => a.length === 3, 'held messages');
    expect(a).toEqual([1, 2, 3].map((n) => ({ t: 'credit', n })));
    expect(b).toEqual(a);
  });

  it('tcp-connection - a handler that throws a JobReactorError closes the link and tells the peer', async () => {
    const { client, accepted } = await pair();
    accepted.onMessage(() => {
      throw new ProtocolError('not now');
    });
    const atClient = closedWith(client);
    client.send({ t: 'drain' });
    const reason = await atClient;
    expect((reason as JobReactorError).code).toBe(ErrorCodes.Protocol);
  });

  it('tcp-connection - unencodable sends throw at the caller and leave the link up', async () => {
    const { client, accepted } = await pair({ maxFrameSize: 1024 });
    expect(() =>
      client.send({ t: 'jobs', jobs: [{ ...wireJob, args: { blob: 'x'.repeat(2000) } }] }),
    ).toThrow(expect.objectContaining({ code: ErrorCodes.PayloadTooLarge }) as Error);
    const got = collect(accepted);
    client.send({ t: 'drain' });
    await until(() => got.length === 1, 'the next message');
  });

  it('tcp-connection - a peer that does not read is cut as a slow consumer', async () => {
    const { port } = await pausedServer(); // never reads
    const client = await connectTcp('127.0.0.1', port, { maxOutboundBytes: 256 * 1024 });
    const reason = closedWith(client);
    const big: Message = {
      t: 'jobs',
      jobs: [{ ...wireJob, args: { blob: 'x'.repeat(64 * 1024) } }],
    };
    for (let i = 0; i < 5000 && !client.closed; i++) {
      client.send(big);
      await new Promise((r) => setImmediate(r));
    }
    expect(await reason).toBeInstanceOf(SlowConsumerError);
  });

  it('tcp-connection - a peer that pings but reads nothing is cut once its backlog has not moved for the peer timeout', async () => {
    const ping = encodeFrame({ t: 'ping' }, 1024);
    // Never reads, but looks alive.
    const { port } = await pausedServer((s) => {
      const timer = setInterval(() => s.write(ping), 20);
      s.on('close', () => clearInterval(timer));
    });
    const cap = 8 * 1024 * 1024;
    const client = await connectTcp('127.0.0.1', port, { maxOutboundBytes: cap, heartbeatMs: 100 });
    const reason = closedWith(client);
    const big: Message = {
      t: 'jobs',
      jobs: [{ ...wireJob, args: { blob: 'x'.repeat(64 * 1024) } }],
    };
    // A paced sender: never more than the room, so never near the 4× cap.
    const sentAt = Date.now();
    for (let turn = 0; turn < 200 && !client.closed; turn++) {
      while (client.sendRoom() > 0) client.send(big);
      await new Promise((r) => setTimeout(r, 5));
    }
    const err = await reason;
    expect(err).toBeInstanceOf(SlowConsumerError);
    expect((err as Error).message).toMatch(
      /does not read: \d+ bytes waiting to be sent, none taken for \d+ ms/,
    );
    // Not before the peer timeout (3 × 100 ms) had passed with nothing read.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(300);
  });

  for (const secure of [false, true]) {
    it(`tcp-connection - a peer that reads a burst steadily, slower than the peer timeout, is never cut (${secure ? 'TLS' : 'TCP'})`, async () => {
      // The node's side of a 500k-job burst: it reads a little every few ms while it works.
      // One 16 MiB write completes only once whole (its TLS queue never shows less): the
      // slow-consumer watch used to see no progress for the whole of it, and cut a reader
      // that never stopped.
      const ping = encodeFrame({ t: 'ping' }, 1024);
      const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
      const got: number[] = [];
      const onSocket = (s: net.Socket): void => {
        s.pause();
        s.on('error', () => {});
        const timer = setInterval(() => {
          s.write(ping);
          for (let taken = 0; taken < 128 * 1024;) {
            const chunk = s.read() as Buffer | null;
            if (chunk === null) break;
            taken += chunk.length;
            for (const m of decoder.push(chunk)) if (m.t === 'credit') got.push(m.n);
          }
        }, 10);
        s.on('close', () => clearInterval(timer));
        cleanups.push(() => void s.destroy());
      };
      let server: net.Server;
      let clientTls;
      if (secure) {
        const certs = makeTestCerts();
        cleanups.push(() => certs.remove());
        server = tls.createServer(
          { key: certs.pem.serverKey, cert: certs.pem.serverCert },
          onSocket,
        );
        clientTls = resolveClientTls({ ca: certs.pem.ca, servername: 'localhost' });
      } else {
        server = net.createServer(onSocket);
      }
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
      const port = (server.address() as net.AddressInfo).port;
      const client = await connectTcp('127.0.0.1', port, {
        maxOutboundBytes: 8 * 1024 * 1024,
        heartbeatMs: 250, // cut after 750 ms with nothing taken (the kernel's own grain is ~300 ms)
        ...(clientTls ? { tls: clientTls } : {}),
      });
      cleanups.push(() => client.close());
      let reason: Error | undefined;
      client.onClose((r) => (reason = r ?? new Error('closed')));
      // 16 MiB in one turn (inside the 32 MiB cap): ~2 s of reading for this peer.
      const filler: Message = {
        t: 'jobs',
        jobs: [{ ...wireJob, args: { blob: 'x'.repeat(64 * 1024) } }],
      };
      const n = 250;
      for (let i = 1; i <= n; i++) {
        client.send(filler);
        client.send({ t: 'credit', n: i });
      }
      await until(() => got.length === n || reason !== undefined, 'the whole burst', 20_000);
      expect(reason).toBeUndefined();
      expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }, 30_000);
  }

  it('tcp-connection - sendRoom: twice the cap less what waits; a sender that stops there is never cut, and drains', async () => {
    const { port, sockets } = await pausedServer(); // reads only when told
    const cap = 256 * 1024;
    const client = await connectTcp('127.0.0.1', port, { maxOutboundBytes: cap });
    expect(client.sendRoom()).toBe(2 * cap);
    let drains = 0;
    client.setDrainHook(() => void drains++);
    const big: Message = {
      t: 'jobs',
      jobs: [{ ...wireJob, args: { blob: 'x'.repeat(16 * 1024) } }],
    };
    // Send only while there is room, for many turns: the kernel's buffers fill, then ours.
    let sent = 0;
    for (let turn = 0; turn < 400 && !client.closed; turn++) {
      while (client.sendRoom() > 0) {
        client.send(big);
        sent++;
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(client.closed).toBe(false);
    expect(client.sendRoom()).toBeLessThanOrEqual(0); // backlogged: the peer does not read
    // The peer reads: the socket drains, the hook runs, and there is room again.
    drains = 0; // (it may have run while the kernel's buffers were filling)
    for (const s of sockets) s.resume();
    await until(() => drains > 0, 'the drain hook');
    expect(client.sendRoom()).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(cap / (16 * 1024));
  });

  it('tcp-connection - connectTcp rejects with ConnectionError when refused', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await expect(connectTcp('127.0.0.1', port)).rejects.toBeInstanceOf(ConnectionError);
  });

  it('tcp-connection - listenTcp rejects with ConnectionError when the port is taken', async () => {
    const server = await listen();
    await expect(
      listenTcp('127.0.0.1', server.listener.address.port, () => {}),
    ).rejects.toBeInstanceOf(ConnectionError);
  });

  it('tcp-connection - listenTcp refuses a maxConnections that is not a whole number ≥ 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => listenTcp('127.0.0.1', 0, () => {}, {}, { maxConnections: bad })).toThrow(
        InvalidArgumentError,
      );
    }
  });

  it('tcp-connection - closing the listener closes its connections', async () => {
    const { listener, client } = await pair();
    const reason = closedWith(client);
    await listener.close();
    expect(await reason).toBeUndefined();
  });

  it('tcp-connection - a peer reset maps to ConnectionError', async () => {
    const server = await listen();
    const raw = await rawPeer(server.listener.address.port);
    const conn = await server.next();
    const reason = closedWith(conn);
    raw.socket.resetAndDestroy();
    const err = await reason;
    // A reset surfaces as ECONNRESET, or as a plain close if the FIN wins the race.
    if (err !== undefined) expect(err).toBeInstanceOf(ConnectionError);
  });
});
