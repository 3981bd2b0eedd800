import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  InvalidArgumentError,
  JobReactorError,
  ProtocolError,
} from '../../../src/errors.ts';
import type { HelloMessage, Message } from '../../../src/protocol/messages.ts';
import { PROTOCOL_VERSION } from '../../../src/protocol/messages.ts';
import {
  acceptHandshake,
  computeProof,
  initiateHandshake,
  newNonce,
  proofMatches,
} from '../../../src/transport/handshake.ts';
import { connectTcp, listenTcp } from '../../../src/transport/tcp-endpoints.ts';
import type { TcpConnection } from '../../../src/transport/tcp-connection.ts';
import { sampleJob, wireJob } from '../protocol/sample-messages.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const helloFields: Omit<HelloMessage, 't' | 'v' | 'nonce'> = {
  node: 'worker-1',
  instance: 'inst-1',
  capacity: 2,
  window: 4,
  windowBytes: 1024,
  durable: false,
  jobs: ['send_email'],
};

interface DistOptions {
  secret?: string;
  timeoutMs?: number;
  /** Runs in the same turn as the distributor's handshake resolves. */
  afterReady?: (conn: TcpConnection) => void;
  /** Replaces acceptHandshake: a fake distributor. */
  fake?: (conn: TcpConnection) => void;
  maxFrameSize?: number;
}

/** A listener whose connections run acceptHandshake; resolves with its outcome per connection. */
async function distributor(opts: DistOptions = {}) {
  const outcomes: Array<Promise<HelloMessage>> = [];
  const listener = await listenTcp('127.0.0.1', 0, (conn) => {
    if (opts.fake) {
      opts.fake(conn);
      return;
    }
    const p = acceptHandshake(conn, {
      distributorId: 'dist-1',
      ...(opts.secret === undefined ? {} : { secret: opts.secret }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.maxFrameSize === undefined ? {} : { maxFrameSize: opts.maxFrameSize }),
    });
    p.then(
      () => opts.afterReady?.(conn),
      () => {},
    );
    outcomes.push(p);
  });
  cleanups.push(() => listener.close());
  const dial = async () => {
    const conn = await connectTcp('127.0.0.1', listener.address.port);
    cleanups.push(() => conn.close());
    return conn;
  };
  const outcome = async () => {
    for (let i = 0; i < 500 && outcomes.length === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    return outcomes[0]!;
  };
  return { listener, dial, outcome };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(JobReactorError);
    return (err as JobReactorError).code;
  }
  return 'resolved';
}

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

function nodeHandshake(conn: TcpConnection, secret?: string) {
  return initiateHandshake(conn, {
    hello: helloFields,
    ...(secret === undefined ? {} : { secret }),
  });
}

describe('handshake', () => {
  it('handshake - no secret on either side', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    const challenge = await nodeHandshake(conn);
    expect(challenge.distributor).toBe('dist-1');
    expect(challenge.proof).toBe('');
    const hello = await dist.outcome();
    expect(hello).toMatchObject({ ...helloFields, t: 'hello', v: PROTOCOL_VERSION });
    expect(conn.closed).toBe(false);
  });

  it('handshake - the challenge announces the distributor frame limit when it is given', async () => {
    const limited = await distributor({ maxFrameSize: 65_536 });
    expect((await nodeHandshake(await limited.dial())).maxFrame).toBe(65_536);
    const plain = await distributor();
    expect((await nodeHandshake(await plain.dial())).maxFrame).toBeUndefined();
  });

  it('handshake - the same secret on both sides', async () => {
    const dist = await distributor({ secret: 's3cret' });
    const conn = await dist.dial();
    const challenge = await nodeHandshake(conn, 's3cret');
    expect(challenge.proof).toMatch(/^[0-9a-f]{64}$/);
    expect((await dist.outcome()).node).toBe('worker-1');
  });

  it('handshake - wrong secret: both sides fail with AUTH_FAILED, secrets stay out of messages', async () => {
    const dist = await distributor({ secret: 'right-secret' });
    const conn = await dist.dial();
    // The distributor's proof is checked first by a node that has a secret.
    const node = nodeHandshake(conn, 'wrong-secret');
    expect(await codeOf(node)).toBe(ErrorCodes.AuthFailed);
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.AuthFailed);
    for (const text of [await messageOf(node), await messageOf(dist.outcome())]) {
      expect(text).not.toContain('right-secret');
      expect(text).not.toContain('wrong-secret');
    }
  });

  it('handshake - a node with a wrong proof is refused by the distributor (AUTH_FAILED)', async () => {
    const dist = await distributor({ secret: 'right-secret' });
    const conn = await dist.dial();
    const seen: Message[] = [];
    conn.onMessage((m) => {
      seen.push(m);
      if (m.t === 'challenge') conn.send({ t: 'auth', proof: 'ab'.repeat(32) });
    });
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    conn.send({ t: 'hello', v: PROTOCOL_VERSION, ...helloFields, nonce: newNonce() });
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.AuthFailed);
    expect(((await closed) as JobReactorError).code).toBe(ErrorCodes.AuthFailed);
    expect(seen.map((m) => m.t)).toEqual(['challenge']);
  });

  it('handshake - node without a secret vs distributor with one: AUTH_FAILED', async () => {
    const dist = await distributor({ secret: 's3cret' });
    const conn = await dist.dial();
    const node = nodeHandshake(conn);
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.AuthFailed);
    expect(await codeOf(node)).toBe(ErrorCodes.AuthFailed);
  });

  it('handshake - distributor without a secret vs node with one: the node refuses', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    const node = nodeHandshake(conn, 's3cret');
    expect(await codeOf(node)).toBe(ErrorCodes.AuthFailed);
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.AuthFailed);
    expect(conn.closed).toBe(true);
  });

  it('handshake - a first message that is not hello: AUTH_REQUIRED, nothing accepted', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    conn.send({ t: 'jobs', jobs: [wireJob] });
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.AuthRequired);
    expect(((await closed) as JobReactorError).code).toBe(ErrorCodes.AuthRequired);
  });

  it('handshake - a silent peer: HANDSHAKE_TIMEOUT', async () => {
    const dist = await distributor({ timeoutMs: 100 });
    const conn = await dist.dial();
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.HandshakeTimeout);
    expect(((await closed) as JobReactorError).code).toBe(ErrorCodes.HandshakeTimeout);
  });

  it('handshake - the node gives up on a silent distributor: HANDSHAKE_TIMEOUT', async () => {
    const dist = await distributor({ fake: () => {} });
    const conn = await dist.dial();
    const node = initiateHandshake(conn, { hello: helloFields, timeoutMs: 100 });
    expect(await codeOf(node)).toBe(ErrorCodes.HandshakeTimeout);
  });

  it('handshake - version mismatch, seen by the distributor', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    conn.send({ t: 'hello', v: PROTOCOL_VERSION + 1, ...helloFields, nonce: newNonce() });
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.VersionMismatch);
    expect(((await closed) as JobReactorError).code).toBe(ErrorCodes.VersionMismatch);
  });

  it('handshake - a protocol v1 node (0.1.0: no window fields) gets VersionMismatchError, not a field error', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    // Exactly what a 0.1.0 node sends: its encoder would not let this one through.
    const body = new Packr({ useRecords: false }).pack({
      t: 'hello',
      v: 1,
      node: 'old-node',
      instance: 'i',
      capacity: 4,
      durable: false,
      jobs: ['a'],
      nonce: newNonce(),
    });
    const frame = Buffer.alloc(5 + body.length);
    frame[0] = 1;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    conn.sendFrame(frame);
    const err = await dist.outcome().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.VersionMismatch });
    expect((err as Error).message).toMatch(/v1.*v3/);
    expect(((await closed) as JobReactorError).code).toBe(ErrorCodes.VersionMismatch);
  });

  it('handshake - version mismatch, seen by the node', async () => {
    const dist = await distributor({
      fake: (conn) =>
        conn.onMessage(() =>
          conn.send({
            t: 'challenge',
            v: PROTOCOL_VERSION + 1,
            distributor: 'd',
            nonce: newNonce(),
            proof: '',
          }),
        ),
    });
    const conn = await dist.dial();
    expect(await codeOf(nodeHandshake(conn))).toBe(ErrorCodes.VersionMismatch);
  });

  it('handshake - a bad node name is a ProtocolError', async () => {
    const dist = await distributor();
    const conn = await dist.dial();
    conn.send({ t: 'hello', v: PROTOCOL_VERSION, ...helloFields, node: 'a:b*', nonce: newNonce() });
    expect(await codeOf(dist.outcome())).toBe(ErrorCodes.Protocol);
  });

  it('handshake - a message sent right after ready (same tick) reaches the node', async () => {
    const dist = await distributor({
      afterReady: (conn) => {
        conn.send({ t: 'jobs', jobs: [wireJob] });
        conn.send({ t: 'cancel', id: sampleJob.id, req: 1 });
      },
    });
    const conn = await dist.dial();
    await nodeHandshake(conn);
    // Registered only after the await: the job shared a TCP chunk with `ready`.
    const got: Message[] = [];
    conn.onMessage((m) => got.push(m));
    for (let i = 0; i < 200 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual([
      { t: 'jobs', jobs: [wireJob] },
      { t: 'cancel', id: sampleJob.id, req: 1 },
    ]);
  });

  it('handshake - handshake messages are not seen by handlers registered afterwards', async () => {
    const dist = await distributor({ afterReady: (conn) => conn.send({ t: 'drain' }) });
    const conn = await dist.dial();
    await nodeHandshake(conn);
    const got: Message[] = [];
    conn.onMessage((m) => got.push(m));
    for (let i = 0; i < 200 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual([{ t: 'drain' }]);
  });

  it('handshake - bad options reject without touching the wire', async () => {
    const dist = await distributor({ fake: () => {} });
    const conn = await dist.dial();
    await expect(
      initiateHandshake(conn, { hello: helloFields, secret: '' }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      initiateHandshake(conn, { hello: { ...helloFields, node: 'bad name' } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(acceptHandshake(conn, { distributorId: '' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('handshake - proofs are role-bound, nonce-bound and checked in constant time', () => {
    const n1 = newNonce();
    const n2 = newNonce();
    expect(n1).toMatch(/^[0-9a-f]{32}$/);
    expect(n1).not.toBe(n2);
    const dist = computeProof('k', 'dist', n1, n2, 'node', 'd');
    const node = computeProof('k', 'node', n1, n2, 'node', 'd');
    expect(dist).not.toBe(node);
    expect(computeProof('k', 'dist', n2, n1, 'node', 'd')).not.toBe(dist);
    // Length prefixes: moving a character between fields changes the proof.
    expect(computeProof('k', 'dist', n1, n2, 'nodex', 'd')).not.toBe(
      computeProof('k', 'dist', n1, n2, 'node', 'xd'),
    );
    expect(proofMatches(dist, dist)).toBe(true);
    expect(proofMatches(dist, node)).toBe(false);
    expect(proofMatches(dist, '')).toBe(false);
    expect(proofMatches(dist, 'zz'.repeat(32))).toBe(false);
    expect(proofMatches(dist, dist.slice(2))).toBe(false);
  });

  it('handshake - an error from the distributor rejects the node with its code', async () => {
    const dist = await distributor({
      fake: (conn) => conn.onMessage(() => conn.close(new ProtocolError('go away'))),
    });
    const conn = await dist.dial();
    expect(await codeOf(nodeHandshake(conn))).toBe(ErrorCodes.Protocol);
  });
});
