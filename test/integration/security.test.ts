import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type WorkerNode,
} from '../../src/index.ts';
import { encodeFrame } from '../../src/protocol/codec.ts';
import { FrameDecoder } from '../../src/protocol/framer.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { waitUntil } from '../helpers/wait.ts';

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

function registry(): JobRegistry {
  const r = new JobRegistry();
  r.define('ping', () => ({ pong: true }));
  return r;
}

/** A raw TCP peer that records the messages it receives and when it was closed. */
function rawPeer(
  port: number,
): Promise<{ socket: Socket; messages: Message[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
    const messages: Message[] = [];
    socket.on('data', (chunk) => {
      try {
        messages.push(...decoder.push(chunk));
      } catch {
        /* the peer may close mid-frame */
      }
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, messages, closed }));
    socket.once('error', reject);
  });
}

async function withNode(d: Distributor, name: string, secret?: string): Promise<WorkerNode> {
  const n = await startNode({
    name,
    distributors: [`127.0.0.1:${d.address.port}`],
    registry: registry(),
    ...(secret !== undefined ? { secret } : {}),
  });
  open.push(n);
  return n;
}

describe('security - handshake, secrets and hostile frames', () => {
  it('a node with the right secret works; wrong or missing secrets are rejected and get no job', async () => {
    const d = await startDistributor({ port: 0, secret: 's3cret' });
    open.push(d);
    const rejected: string[] = [];
    d.on('node:rejected', (_remote, err) => rejected.push(err.code));
    const good = await withNode(d, 'good', 's3cret');
    await waitUntil(() => d.nodes().length === 1);
    const wrongErrors: string[] = [];
    const wrong = await withNode(d, 'wrong', 'guess');
    wrong.on('distributor:rejected', (_a, e) => wrongErrors.push(e.code));
    const none = await withNode(d, 'none');
    const noneErrors: string[] = [];
    none.on('distributor:rejected', (_a, e) => noneErrors.push(e.code));
    await waitUntil(
      () => rejected.length >= 2 && wrongErrors.length >= 1 && noneErrors.length >= 1,
      10_000,
    );
    expect(new Set(rejected)).toEqual(new Set(['JR_ERR_AUTH_FAILED']));
    expect(wrongErrors[0]).toBe('JR_ERR_AUTH_FAILED');
    expect(noneErrors[0]).toBe('JR_ERR_AUTH_FAILED');
    expect(d.nodes().map((n) => n.name)).toEqual(['good']);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => d.enqueue('ping', {}).result),
    );
    expect(results.every((r) => r.pong === true)).toBe(true);
    expect(good.state).toBe('running');
  });

  it('a node with a secret refuses a distributor that cannot prove it', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const n = await withNode(d, 'careful', 'mine');
    const errors: string[] = [];
    n.on('distributor:rejected', (_a, e) => errors.push(e.code));
    await waitUntil(() => errors.length >= 1, 10_000);
    expect(errors[0]).toBe('JR_ERR_AUTH_FAILED');
    expect(d.nodes()).toHaveLength(0);
  });

  it('a peer that sends a job before the handshake is told AUTH_REQUIRED and closed', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const peer = await rawPeer(d.address.port);
    peer.socket.write(encodeFrame({ t: 'credit', n: 5 }));
    await peer.closed;
    expect(peer.messages.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'JR_ERR_AUTH_REQUIRED' },
    });
  });

  it('a silent peer is closed at the handshake deadline', async () => {
    const d = await startDistributor({ port: 0, handshakeTimeoutMs: 200 });
    open.push(d);
    const peer = await rawPeer(d.address.port);
    await peer.closed;
    expect(peer.messages.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'JR_ERR_HANDSHAKE_TIMEOUT' },
    });
  });

  it('connections past maxConnections are closed at once and reported; a freed place is taken again', async () => {
    const d = await startDistributor({ port: 0, maxConnections: 2, handshakeTimeoutMs: 5000 });
    open.push(d);
    const rejected: { remote: string; code: string }[] = [];
    d.on('node:rejected', (remote, err) => rejected.push({ remote, code: err.code }));
    const a = await rawPeer(d.address.port);
    const b = await rawPeer(d.address.port);
    const c = await rawPeer(d.address.port);
    await c.closed;
    await waitUntil(() => rejected.length === 1);
    expect(rejected[0]).toMatchObject({ code: 'JR_ERR_CONNECTION' });
    expect(rejected[0]!.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    // a and b are still open; once one leaves, a newcomer (a real node) gets in.
    expect(a.socket.destroyed || b.socket.destroyed).toBe(false);
    a.socket.destroy();
    await a.closed;
    const node = await withNode(d, 'after-the-flood');
    await waitUntil(() => d.nodes().length === 1);
    expect(d.nodes()[0]!.name).toBe(node.name);
    b.socket.destroy();
  });

  it('an oversized or malformed frame closes only that connection', async () => {
    const d = await startDistributor({ port: 0, maxFrameSize: 64 * 1024 });
    open.push(d);
    await withNode(d, 'bystander');
    await waitUntil(() => d.nodes().length === 1);

    const big = await rawPeer(d.address.port);
    const header = Buffer.alloc(5);
    header.writeUInt8(1, 0);
    header.writeUInt32BE(64 * 1024 + 1, 1);
    big.socket.write(header);
    await big.closed;
    expect(big.messages.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'JR_ERR_FRAME_TOO_LARGE' },
    });

    const garbage = await rawPeer(d.address.port);
    garbage.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await garbage.closed;
    expect(garbage.messages.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'JR_ERR_MALFORMED_FRAME' },
    });

    const badBody = await rawPeer(d.address.port);
    const frame = Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]);
    badBody.socket.write(frame);
    await badBody.closed;
    expect(badBody.messages.at(-1)).toMatchObject({
      t: 'error',
      error: { code: 'JR_ERR_MALFORMED_FRAME' },
    });

    // The authenticated node was never disturbed.
    expect(d.nodes().map((n) => n.name)).toEqual(['bystander']);
    await expect(d.enqueue('ping', {}).result).resolves.toEqual({ pong: true });
  });

  it('a job larger than the frame limit, or with args that are not plain data, is refused at enqueue', async () => {
    const d = await startDistributor({ port: 0, maxFrameSize: 16 * 1024 });
    open.push(d);
    await withNode(d, 'small');
    await waitUntil(() => d.nodes().length === 1);
    expect(() => d.enqueue('ping', { blob: 'x'.repeat(32 * 1024) })).toThrow(
      expect.objectContaining({ code: 'JR_ERR_PAYLOAD_TOO_LARGE' }),
    );
    expect(() => d.enqueue('ping', { when: new Date() })).toThrow(
      expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }),
    );
    expect(() =>
      d.enqueue('ping', JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>),
    ).toThrow(expect.objectContaining({ code: 'JR_ERR_INVALID_ARGUMENT' }));
    await expect(d.enqueue('ping', {}).result).resolves.toEqual({ pong: true });
    expect(d.nodes()).toHaveLength(1);
  });

  it('a second live node with the same name is refused until the first one leaves', async () => {
    const d = await startDistributor({ port: 0 });
    open.push(d);
    const rejected: string[] = [];
    d.on('node:rejected', (_r, e) => rejected.push(e.code));
    const first = await withNode(d, 'twin');
    await waitUntil(() => d.nodes().length === 1);
    const second = await withNode(d, 'twin');
    // The refused node hears why (and never seems connected meanwhile).
    const told: string[] = [];
    let connected = 0;
    second.on('distributor:rejected', (_a, e) => told.push(e.code));
    second.on('distributor:connected', () => connected++);
    await waitUntil(() => rejected.length >= 1 && told.length >= 1);
    expect(rejected[0]).toBe('JR_ERR_DUPLICATE_NODE');
    expect(told[0]).toBe('JR_ERR_DUPLICATE_NODE');
    expect(connected).toBe(0);
    expect(d.nodes().map((n) => n.instance)).toEqual([first.instance]);
    await first.stop();
    await waitUntil(
      () => d.nodes()[0]?.instance === second.instance,
      15_000,
      'the second twin to get in',
    );
  });

  it('refuses to listen on a non-loopback address without a secret', () => {
    return expect(startDistributor({ host: '0.0.0.0', port: 0 })).rejects.toMatchObject({
      code: 'JR_ERR_INVALID_ARGUMENT',
    });
  });
});
