import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AuthFailedError,
  AuthRequiredError,
  ClosedError,
  ConnectionError,
  HandshakeTimeoutError,
  InvalidArgumentError,
  JobReactorError,
  ProtocolError,
  RemoteError,
  VersionMismatchError,
} from '../errors.ts';
import { systemClock } from '../model/clock.ts';
import type { Clock } from '../model/clock.ts';
import { assertNodeName, isValidNodeName } from '../model/names.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { ChallengeMessage, HelloMessage, Message } from '../protocol/messages.ts';
import type { Connection } from './connection.ts';

/**
 * Mutual challenge-response over fresh nonces from both sides (see messages.ts):
 *
 *   node → hello     { nonce: Nn, node }
 *   dist → challenge { nonce: Nd, distributor, proof: HMAC(secret, "dist", Nn, Nd, node, dist) }
 *   node → auth      { proof: HMAC(secret, "node", Nn, Nd, node, dist) }
 *   dist → ready
 *
 * Both nonces are in both proofs, so a recorded handshake replays against neither side; the
 * role label keeps one side's proof from being reflected as the other's; the names bind the
 * proof to this pair. Proofs are compared in constant time. The secret never enters an
 * error message.
 *
 * The handshake listens only until it ends, then unregisters: messages after `ready` go to
 * handlers registered afterwards (TcpConnection holds them until the first one is).
 */

/** Default deadline for the whole handshake, ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000;

const NONCE = /^[0-9a-f]{32}$/;
const PROOF = /^[0-9a-f]{64}$/;

export type ProofRole = 'dist' | 'node';

/** HMAC-SHA256 (hex) over length-prefixed fields, so no two field lists hash alike. */
export function computeProof(
  secret: string,
  role: ProofRole,
  nodeNonce: string,
  distNonce: string,
  nodeName: string,
  distributorId: string,
): string {
  const hmac = createHmac('sha256', secret);
  for (const part of ['job-reactor/1', role, nodeNonce, distNonce, nodeName, distributorId]) {
    hmac.update(`${Buffer.byteLength(part)}:`);
    hmac.update(part);
  }
  return hmac.digest('hex');
}

/** Constant-time check of a received proof against the expected one. */
export function proofMatches(expected: string, received: string): boolean {
  if (!PROOF.test(received)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(received, 'hex'));
}

/** 16 random bytes, hex. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export interface AcceptHandshakeOptions {
  /** Shared secret; without it the distributor accepts any node (and sends an empty proof). */
  secret?: string;
  /** This distributor's id, sent in the challenge. */
  distributorId: string;
  /** Deadline for the whole handshake, ms. @default 2000 */
  timeoutMs?: number;
  /** @default systemClock */
  clock?: Clock;
  /**
   * Last word on an authenticated node before `ready`: an error refuses it (the node is
   * told, and its handshake fails with that error instead of appearing to succeed).
   */
  admit?: (hello: HelloMessage) => JobReactorError | undefined;
  /** This distributor's frame limit, announced in the challenge (`maxFrame`). */
  maxFrameSize?: number;
}

/**
 * Distributor side. Resolves with the node's hello once it is authenticated and `ready` is
 * queued; on any failure the connection is closed with the error (the node is told) and the
 * promise rejects with it.
 */
export function acceptHandshake(
  conn: Connection,
  opts: AcceptHandshakeOptions,
): Promise<HelloMessage> {
  let secret: string | undefined;
  try {
    secret = checkSecret(opts.secret);
    if (typeof opts.distributorId !== 'string' || opts.distributorId === '') {
      throw new InvalidArgumentError('distributorId must be a non-empty string');
    }
  } catch (err) {
    return Promise.reject(err);
  }
  const distributorId = opts.distributorId;
  const distNonce = newNonce();
  let hello: HelloMessage | undefined;
  return runHandshake<HelloMessage>(conn, opts, (m, ctx) => {
    if (hello === undefined) {
      if (m.t !== 'hello') {
        throw new AuthRequiredError(`expected hello first, got ${m.t}`);
      }
      if (m.v !== PROTOCOL_VERSION) {
        throw new VersionMismatchError(
          `node speaks protocol v${m.v}, this distributor v${PROTOCOL_VERSION}`,
        );
      }
      if (!isValidNodeName(m.node)) {
        throw new ProtocolError('hello.node is not a valid node name');
      }
      if (!NONCE.test(m.nonce)) throw new ProtocolError('hello.nonce must be 16 bytes of hex');
      hello = m;
      const proof =
        secret === undefined
          ? ''
          : computeProof(secret, 'dist', m.nonce, distNonce, m.node, distributorId);
      conn.send({
        t: 'challenge',
        v: PROTOCOL_VERSION,
        distributor: distributorId,
        ...(opts.maxFrameSize !== undefined ? { maxFrame: opts.maxFrameSize } : {}),
        nonce: distNonce,
        proof,
      });
      return;
    }
    if (m.t !== 'auth') {
      throw new AuthRequiredError(`expected auth, got ${m.t}`);
    }
    if (secret !== undefined) {
      const expected = computeProof(
        secret,
        'node',
        hello.nonce,
        distNonce,
        hello.node,
        distributorId,
      );
      if (!proofMatches(expected, m.proof)) {
        throw new AuthFailedError(
          m.proof === ''
            ? `node ${hello.node} sent no proof of the shared secret`
            : `node ${hello.node} sent a wrong proof of the shared secret`,
        );
      }
    }
    const refusal = opts.admit?.(hello);
    if (refusal !== undefined) throw refusal;
    conn.send({ t: 'ready' });
    ctx.succeed(hello);
  });
}

export interface InitiateHandshakeOptions {
  /** Shared secret; when set, a distributor that cannot prove it knows it is refused. */
  secret?: string;
  /** This node's hello, minus what the handshake fills in. */
  hello: Omit<HelloMessage, 't' | 'v' | 'nonce'>;
  /** Deadline for the whole handshake, ms. @default 2000 */
  timeoutMs?: number;
  /** @default systemClock */
  clock?: Clock;
}

/**
 * Node side. Sends hello, checks the distributor's proof (when this node has a secret),
 * answers with its own, and resolves with the challenge once `ready` arrives. A distributor's
 * `error` rejects with a `RemoteError` carrying its code (e.g. JR_ERR_AUTH_FAILED).
 */
export function initiateHandshake(
  conn: Connection,
  opts: InitiateHandshakeOptions,
): Promise<ChallengeMessage> {
  let secret: string | undefined;
  try {
    secret = checkSecret(opts.secret);
    assertNodeName(opts.hello.node);
  } catch (err) {
    return Promise.reject(err);
  }
  const nodeName = opts.hello.node;
  const nodeNonce = newNonce();
  let challenge: ChallengeMessage | undefined;
  return runHandshake<ChallengeMessage>(
    conn,
    opts,
    (m, ctx) => {
      if (challenge === undefined) {
        if (m.t !== 'challenge') throw new ProtocolError(`expected challenge, got ${m.t}`);
        if (m.v !== PROTOCOL_VERSION) {
          throw new VersionMismatchError(
            `distributor speaks protocol v${m.v}, this node v${PROTOCOL_VERSION}`,
          );
        }
        if (!NONCE.test(m.nonce)) {
          throw new ProtocolError('challenge.nonce must be 16 bytes of hex');
        }
        let proof = '';
        if (secret !== undefined) {
          const expected = computeProof(
            secret,
            'dist',
            nodeNonce,
            m.nonce,
            nodeName,
            m.distributor,
          );
          if (!proofMatches(expected, m.proof)) {
            throw new AuthFailedError(
              m.proof === ''
                ? `distributor ${m.distributor} has no shared secret (empty proof); this node requires one`
                : `distributor ${m.distributor} sent a wrong proof of the shared secret`,
            );
          }
          proof = computeProof(secret, 'node', nodeNonce, m.nonce, nodeName, m.distributor);
        }
        // Without a secret the proof stays empty; a distributor that wants one refuses us.
        challenge = m;
        conn.send({ t: 'auth', proof });
        return;
      }
      if (m.t !== 'ready') throw new ProtocolError(`expected ready, got ${m.t}`);
      ctx.succeed(challenge);
    },
    () => {
      conn.send({
        ...opts.hello,
        t: 'hello',
        v: PROTOCOL_VERSION,
        jobs: [...opts.hello.jobs],
        nonce: nodeNonce,
      });
    },
  );
}

interface Step<T> {
  succeed(value: T): void;
}

/**
 * The shared machinery: subscribe, arm the deadline, feed messages to `step` (which throws a
 * JobReactorError to fail), and on any outcome unsubscribe and clear the timer exactly once.
 */
function runHandshake<T>(
  conn: Connection,
  opts: { timeoutMs?: number; clock?: Clock },
  step: (message: Message, ctx: Step<T>) => void,
  start?: () => void,
): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return new Promise<T>((resolve, reject) => {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      reject(new InvalidArgumentError(`handshake timeoutMs must be > 0 (got ${timeoutMs})`));
      return;
    }
    if (conn.closed) {
      reject(new ClosedError('the connection closed before the handshake'));
      return;
    }
    let done = false;
    // Filled in below; kept in an object so `finish` may run before both are assigned.
    const offs: { message?: unknown; close?: unknown } = {};
    const finish = (): void => {
      done = true;
      clock.clearTimer(timer);
      unsubscribe(offs.message);
      unsubscribe(offs.close);
    };
    const fail = (err: JobReactorError): void => {
      if (done) return;
      finish();
      conn.close(err);
      reject(err);
    };
    const ctx: Step<T> = {
      succeed: (value) => {
        if (done) return;
        finish();
        resolve(value);
      },
    };
    const timer = clock.setTimer(
      () => fail(new HandshakeTimeoutError(`no complete handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref?.();
    // A Connection may return an unsubscribe function (TcpConnection does); with one that
    // does not, the `done` flag turns our handlers into no-ops.
    offs.message = conn.onMessage((m) => {
      if (done) return;
      if (m.t === 'error') {
        // Only for connections that pass `error` on (TcpConnection closes instead).
        fail(new RemoteError(m.error));
        return;
      }
      try {
        step(m, ctx);
      } catch (err) {
        fail(
          err instanceof JobReactorError
            ? err
            : new ProtocolError('handshake failed', { cause: err }),
        );
      }
    });
    offs.close = conn.onClose((reason) => {
      if (done) return;
      finish();
      reject(
        reason instanceof JobReactorError
          ? reason
          : new ConnectionError('the connection closed during the handshake', { cause: reason }),
      );
    });
    if (start !== undefined) {
      try {
        start();
      } catch (err) {
        fail(
          err instanceof JobReactorError
            ? err
            : new ProtocolError('could not send the handshake', { cause: err }),
        );
      }
    }
  });
}

function unsubscribe(off: unknown): void {
  if (typeof off === 'function') (off as () => void)();
}

/** `undefined` means no secret; an empty string is refused rather than silently meaning none. */
function checkSecret(secret: string | undefined): string | undefined {
  if (secret === undefined) return undefined;
  if (typeof secret !== 'string' || secret === '') {
    throw new InvalidArgumentError('the shared secret must be a non-empty string');
  }
  return secret;
}
