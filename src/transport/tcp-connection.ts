import type net from 'node:net';
import type tls from 'node:tls';
import {
  InvalidArgumentError,
  JobReactorError,
  PeerTimeoutError,
  ProtocolError,
  RemoteError,
  SlowConsumerError,
} from '../errors.ts';
import { systemClock } from '../model/clock.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame } from '../protocol/codec.ts';
import { FrameDecoder } from '../protocol/framer.ts';
import type { Message } from '../protocol/messages.ts';
import type { Connection } from './connection.ts';
import { Heartbeat } from './heartbeat.ts';
import { looksLikeTls, socketError, tlsOnPlainLink } from './socket-errors.ts';

export interface TcpConnectionOptions {
  /** Largest frame body sent or accepted, bytes. @default 8 MiB (DEFAULT_MAX_FRAME_SIZE) */
  maxFrameSize?: number;
  /** A ping goes out when nothing was sent for this long, ms. @default 1000 */
  heartbeatMs?: number;
  /** The link is closed (PeerTimeoutError) when nothing was received for this long, ms. @default 3 × heartbeatMs */
  peerTimeoutMs?: number;
  /**
   * Outbound bytes (queued + in the socket) that make a backlog. Senders that pace
   * themselves stop at twice this (`sendRoom`). The peer is cut as a slow consumer when bytes
   * wait for it and it reads none of them for `peerTimeoutMs`, or at once past 4× this
   * (the memory bound for one link). @default 16 MiB
   */
  maxOutboundBytes?: number;
  /**
   * Longest time one frame may take to arrive once its first byte is in, ms; a peer that
   * dribbles a frame slower is cut (PeerTimeoutError), since its pings cannot get through
   * meanwhile anyway. @default 10000
   */
  frameDeadlineMs?: number;
  /** After our `end`, how long the peer gets to close before the socket is destroyed, ms. @default 1000 */
  closeGraceMs?: number;
  /** @default systemClock */
  clock?: Clock;
}

export interface Resolved {
  maxFrameSize: number;
  heartbeatMs: number;
  peerTimeoutMs: number;
  maxOutboundBytes: number;
  frameDeadlineMs: number;
  closeGraceMs: number;
  clock: Clock;
}

/** Messages held while no handler is registered (see `onMessage`); more is a misbehaving peer. */
const MAX_HELD_MESSAGES = 10_000;

/**
 * Largest single socket write; a larger flush goes in slices, one in flight at a time. A
 * write counts as taken by the peer only once whole (Node's `writableLength` drops when the
 * write completes, and a TLS socket's queue never shows less), so a 32 MiB burst written
 * at once looked stalled for as long as a steady reader took to read all of it: a node
 * working through a burst at 5 MB/s was cut as a slow consumer. In slices, a reader that
 * takes 256 KiB per `peerTimeoutMs` is never cut.
 */
const WRITE_SLICE_BYTES = 256 * 1024;

const State = { Open: 'open', Closing: 'closing', Closed: 'closed' } as const;
type State = (typeof State)[keyof typeof State];

/**
 * A `Connection` over one `net.Socket`, or a `tls.TLSSocket` whose TLS handshake is done:
 * framing, batching, heartbeats, close handshake.
 *
 * States:
 * - open → closing: `close()`, a decode error, a received `error`, a peer timeout, a slow
 *   consumer, a socket error, or the peer's FIN. Sends are dropped from here on, and incoming
 *   bytes are read and discarded (so our error frame is not lost to a reset).
 * - closing → closed: the socket's `close` event (the peer closed, or `closeGraceMs` after
 *   our `end` the socket is destroyed). `onClose` handlers run here, once, with the first
 *   reason recorded.
 * - open → closed: the socket closed without warning.
 *
 * Messages decoded while no message handler is registered are held, in order, and delivered
 * to the first handler registered (on a microtask, so every handler registered in the same
 * synchronous block gets them). This is what lets a caller `await` a handshake and then
 * register its handlers without losing a message that shared a TCP chunk with `ready`.
 * `onMessage` and `onClose` return a function that unregisters the handler.
 */
export class TcpConnection implements Connection {
  readonly remote: string;
  readonly #socket: net.Socket;
  readonly #opts: Resolved;
  readonly #decoder: FrameDecoder;
  readonly #heartbeat: Heartbeat;
  #state: State = State.Open;
  #reason: Error | undefined;
  // Copy-on-write, so a handler added or removed during a dispatch does not disturb it.
  #handlers: ReadonlyArray<(message: Message) => void> = [];
  #closeHandlers: ReadonlyArray<(reason: Error | undefined) => void> = [];
  #held: Message[] = [];
  #replayScheduled = false;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  #flushHook: (() => void) | undefined;
  /** Flushed bytes waiting behind the write in flight, oldest first. */
  #unsent: Buffer[] = [];
  #unsentBytes = 0;
  /** Bytes of the socket write in flight (its callback not run yet); 0 when none. */
  #writing = 0;
  /** Bytes whose socket write completed, since the start: the peer's progress. */
  #taken = 0;
  #graceTimer: TimerHandle | null = null;
  /** When the partial frame now in the decoder started arriving; -1 when none. */
  #frameStartedAt = -1;
  readonly #tls: boolean;
  #receivedAny = false;
  /** 2× maxOutboundBytes, half the immediate cut: senders stop queueing there (see `sendRoom`). */
  readonly #sendHighWater: number;
  #drainHook: (() => void) | undefined;
  /** `#taken` at the last tick, and since when that has not moved. */
  #takenAtTick = 0;
  #stalledSince = -1;

  constructor(socket: net.Socket | tls.TLSSocket, opts: TcpConnectionOptions = {}) {
    this.#opts = resolveOptions(opts);
    this.#sendHighWater = 2 * this.#opts.maxOutboundBytes;
    this.#socket = socket;
    this.#tls = (socket as tls.TLSSocket).encrypted === true;
    this.#decoder = new FrameDecoder({ maxFrameSize: this.#opts.maxFrameSize });
    const host = socket.remoteAddress ?? 'unknown';
    this.remote = `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`;
    this.#heartbeat = new Heartbeat({
      clock: this.#opts.clock,
      intervalMs: this.#opts.heartbeatMs,
      timeoutMs: this.#opts.peerTimeoutMs,
      sendPing: () => this.send({ t: 'ping' }),
      onTimeout: (silentMs) =>
        this.#closeWith(
          new PeerTimeoutError(`nothing heard from ${this.remote} for ${silentMs} ms`),
        ),
      onTick: (now, late) => this.#watchBacklog(now, late),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => this.#onError(err));
    socket.on('close', () => this.#onSocketClose());
    if (socket.destroyed) {
      // Closed before we wrapped it: 'close' may already have fired.
      queueMicrotask(() => this.#onSocketClose());
      return;
    }
    this.#heartbeat.start();
  }

  silentFor(): number {
    return this.#heartbeat.silentFor();
  }

  get closed(): boolean {
    return this.#state !== State.Open;
  }

  /**
   * Queues a message; everything queued in one event-loop turn leaves in one `write`.
   * Throws `PayloadTooLargeError` / `InvalidArgumentError` for a message that cannot be
   * encoded (the link is unaffected). After close the message is dropped: `onClose` has told
   * (or will tell) the caller the link is gone.
   */
  send(message: Message): void {
    if (this.#state !== State.Open) return;
    this.sendFrame(encodeFrame(message, this.#opts.maxFrameSize));
  }

  setFlushHook(hook: () => void): void {
    this.#flushHook = hook;
  }

  sendFrame(frame: Buffer): void {
    if (this.#state !== State.Open) return;
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    this.requestFlush();
  }

  requestFlush(): void {
    if (this.#state === State.Open && !this.#flushScheduled) {
      this.#flushScheduled = true;
      // setImmediate, not process.nextTick: it runs after every I/O callback of this poll
      // phase and after promise continuations, so a burst produced across `await`s or across
      // several incoming chunks still leaves in one write; nextTick flushes before promise
      // jobs run and splits such bursts. Measured on loopback (echo of 1-message round
      // trips, and of 1000-message bursts): same round-trip time (~30 µs) either way, and
      // ~20-40 % more echoed messages/s with setImmediate.
      setImmediate(this.#flush);
    }
  }

  sendRoom(): number {
    return this.#sendHighWater - this.#pendingBytes - this.#backlog;
  }

  /** Flushed bytes the peer has not taken yet: the write in flight and those behind it. */
  get #backlog(): number {
    return this.#writing + this.#unsentBytes;
  }

  setDrainHook(hook: () => void): void {
    this.#drainHook = hook;
  }

  close(reason?: JobReactorError): void {
    this.#closeWith(reason);
  }

  onMessage(handler: (message: Message) => void): () => void {
    this.#handlers = [...this.#handlers, handler];
    if (this.#held.length > 0 && !this.#replayScheduled) {
      this.#replayScheduled = true;
      queueMicrotask(() => this.#replay());
    }
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  onClose(handler: (reason: Error | undefined) => void): () => void {
    if (this.#state === State.Closed) {
      // Registered too late to see the close: still told, once.
      queueMicrotask(() => runCloseHandler(handler, this.#reason));
      return () => {};
    }
    this.#closeHandlers = [...this.#closeHandlers, handler];
    return () => {
      this.#closeHandlers = this.#closeHandlers.filter((h) => h !== handler);
    };
  }

  #setState(next: State): void {
    this.#state = next;
  }

  readonly #flush = (): void => {
    // The hook's frames join this write (while the flag is set, they schedule no other).
    if (this.#flushHook !== undefined && this.#state === State.Open) this.#flushHook();
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const data =
      this.#pending.length === 1
        ? this.#pending[0]!
        : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#socket.destroyed || !this.#socket.writable) return;
    if (this.#writing === 0 && data.length <= WRITE_SLICE_BYTES) {
      this.#write(data); // the usual turn: nothing in flight, one write
    } else {
      this.#unsent.push(data);
      this.#unsentBytes += data.length;
      if (this.#writing === 0) this.#writeNext();
    }
    this.#heartbeat.sent();
    if (this.#state === State.Open && this.#backlog > 4 * this.#opts.maxOutboundBytes) {
      this.#closeWith(
        new SlowConsumerError(
          `${this.remote} does not keep up: over ${4 * this.#opts.maxOutboundBytes} bytes waiting to be sent`,
        ),
      );
    }
  };

  /** Writes the next slice of what waits (see WRITE_SLICE_BYTES). */
  #writeNext(): void {
    const head = this.#unsent[0];
    if (head === undefined) return;
    let slice = head;
    if (head.length > WRITE_SLICE_BYTES) {
      slice = head.subarray(0, WRITE_SLICE_BYTES);
      this.#unsent[0] = head.subarray(WRITE_SLICE_BYTES);
    } else {
      this.#unsent.shift();
    }
    this.#unsentBytes -= slice.length;
    this.#write(slice);
  }

  /** One socket write, the only one in flight; `#written` runs when it completes. */
  #write(slice: Buffer): void {
    this.#writing = slice.length;
    this.#socket.write(slice, this.#written);
  }

  /**
   * A socket write completed: the next slice goes, and once the backlog falls under
   * `maxOutboundBytes` (a paced sender found no room only above twice that) the drain hook
   * runs. Write failures arrive as an 'error' event.
   */
  readonly #written = (): void => {
    const before = this.#backlog;
    this.#taken += this.#writing;
    this.#writing = 0;
    if (this.#state !== State.Open) return;
    this.#writeNext();
    const low = this.#opts.maxOutboundBytes;
    if (before >= low && this.#backlog < low) this.#drainHook?.();
  };

  /** Closing: hands everything still waiting to the socket (sent before our FIN). */
  #writeAll(): void {
    for (const buf of this.#unsent) this.#socket.write(buf);
    this.#unsent = [];
    this.#unsentBytes = 0;
  }

  /**
   * On each heartbeat tick: bytes waiting for a peer that took none of them for
   * `peerTimeoutMs` cut it. A peer that reads, however slowly, is never cut for a burst
   * (a cap checked right after each write cut a node that was sent 300k delayed jobs in
   * one turn, and did again after every reconnect); a paced sender keeps the backlog small.
   * A late tick starts the count again: while this process's own loop was blocked, nothing
   * could be written, whatever the peer did.
   */
  #watchBacklog(now: number, late: boolean): void {
    const held = this.#backlog;
    const taken = this.#taken;
    if (late || held === 0 || taken !== this.#takenAtTick || this.#stalledSince < 0) {
      this.#takenAtTick = taken;
      this.#stalledSince = now;
      return;
    }
    if (now - this.#stalledSince >= this.#opts.peerTimeoutMs) {
      this.#closeWith(
        new SlowConsumerError(
          `${this.remote} does not read: ${held} bytes waiting to be sent, none taken for ${now - this.#stalledSince} ms`,
        ),
      );
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#state !== State.Open) return;
    if (!this.#receivedAny) {
      this.#receivedAny = true;
      // A TLS hello (or alert) on a plain link: say so, not "malformed frame".
      if (!this.#tls && looksLikeTls(chunk[0])) {
        this.#closeWith(tlsOnPlainLink(this.remote));
        return;
      }
    }
    this.#heartbeat.received();
    const framesBefore = this.#decoder.frames;
    try {
      this.#decoder.decode(chunk, this.#dispatch);
    } catch (err) {
      // Only decoder errors get here: #dispatch never throws.
      this.#closeWith(
        err instanceof JobReactorError
          ? err
          : new ProtocolError('undecodable data from the peer', { cause: err }),
      );
      return;
    }
    this.#checkFrameDeadline(framesBefore);
  }

  /** Slowloris guard: bytes keep coming but the frame they belong to never completes. */
  #checkFrameDeadline(framesBefore: number): void {
    if (this.#state !== State.Open) return;
    if (!this.#decoder.inFrame) {
      this.#frameStartedAt = -1;
      return;
    }
    const now = this.#opts.clock.now();
    if (this.#frameStartedAt < 0 || this.#decoder.frames !== framesBefore) {
      this.#frameStartedAt = now;
    } else if (now - this.#frameStartedAt > this.#opts.frameDeadlineMs) {
      this.#closeWith(
        new PeerTimeoutError(
          `${this.remote} took over ${this.#opts.frameDeadlineMs} ms to send one frame`,
        ),
      );
    }
  }

  readonly #dispatch = (message: Message): void => {
    if (this.#state !== State.Open) return;
    switch (message.t) {
      case 'ping':
        this.send(message.id === undefined ? { t: 'pong' } : { t: 'pong', id: message.id });
        return;
      case 'pong':
        // A heartbeat's pong only proves liveness (any frame does); one with an id answers
        // a measured ping, and goes to the handlers.
        if (message.id === undefined) return;
        break;
      case 'error':
        // The peer closes after an error; never echo one back.
        this.#closeWith(new RemoteError(message.error));
        return;
      default:
        break;
    }
    if (this.#held.length > 0 || this.#handlers.length === 0) {
      if (this.#held.length >= MAX_HELD_MESSAGES) {
        this.#closeWith(new ProtocolError(`over ${MAX_HELD_MESSAGES} messages with no handler`));
        return;
      }
      this.#held.push(message);
      return;
    }
    this.#deliver(message);
  };

  #deliver(message: Message): void {
    const handlers = this.#handlers;
    for (let i = 0; i < handlers.length; i++) {
      if (this.#state !== State.Open) return;
      try {
        handlers[i]!(message);
      } catch (err) {
        // A handler may throw a JobReactorError (e.g. ProtocolError) to reject the peer's
        // message: the peer is told. Anything else is a local bug: the link is closed with it
        // as the reason, and the peer is not shown our internals.
        this.#closeWith(
          err instanceof Error ? err : new ProtocolError('a message handler threw', { cause: err }),
        );
        return;
      }
    }
  }

  #replay(): void {
    this.#replayScheduled = false;
    let i = 0;
    while (i < this.#held.length && this.#handlers.length > 0 && this.#state === State.Open) {
      this.#deliver(this.#held[i++]!);
    }
    this.#held = this.#state === State.Open ? this.#held.slice(i) : [];
  }

  #onEnd(): void {
    // The peer finished sending; Node ends our side too (allowHalfOpen is false), after
    // what is written. A clean close unless a reason was recorded already.
    if (this.#state === State.Open) this.#beginClosing(undefined);
    if (!this.#socket.destroyed && this.#socket.writable) this.#writeAll();
  }

  #onError(err: Error): void {
    const reason = socketError(err, this.remote, this.#tls);
    if (this.#state === State.Open) this.#beginClosing(reason);
    // Node destroys the socket after 'error'; 'close' follows.
  }

  /**
   * Closes with `reason`. A JobReactorError of ours is sent to the peer first (best effort),
   * after anything already queued; a `RemoteError` (the peer's own) or a non-library error
   * is not.
   */
  #closeWith(reason: Error | undefined): void {
    if (this.#state !== State.Open) return;
    this.#beginClosing(reason);
    if (reason instanceof JobReactorError && !(reason instanceof RemoteError)) {
      try {
        const frame = encodeFrame({ t: 'error', error: reason.toInfo() }, this.#opts.maxFrameSize);
        this.#pending.push(frame);
        this.#pendingBytes += frame.length;
      } catch {
        // An unencodable error message only costs the peer the reason.
      }
    }
    this.#flush();
    if (this.#socket.destroyed) return;
    if (reason instanceof PeerTimeoutError || reason instanceof SlowConsumerError) {
      // The peer is gone or not reading: waiting for it to close would only hold memory.
      this.#socket.destroy();
      return;
    }
    this.#writeAll();
    this.#socket.end();
    this.#graceTimer = this.#opts.clock.setTimer(() => {
      this.#graceTimer = null;
      this.#socket.destroy();
    }, this.#opts.closeGraceMs);
    this.#graceTimer.unref?.();
  }

  #beginClosing(reason: Error | undefined): void {
    this.#setState(State.Closing);
    this.#reason = reason;
    this.#heartbeat.stop();
    this.#decoder.close();
    this.#held = [];
  }

  #onSocketClose(): void {
    if (this.#state === State.Closed) return;
    if (this.#state === State.Open) this.#beginClosing(undefined);
    this.#setState(State.Closed);
    if (this.#graceTimer !== null) {
      this.#opts.clock.clearTimer(this.#graceTimer);
      this.#graceTimer = null;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#unsent = [];
    this.#unsentBytes = 0;
    this.#handlers = [];
    this.#drainHook = undefined;
    const handlers = this.#closeHandlers;
    this.#closeHandlers = [];
    for (const handler of handlers) runCloseHandler(handler, this.#reason);
  }
}

/** Close handlers must not throw; one that does is skipped so the others still run. */
function runCloseHandler(
  handler: (reason: Error | undefined) => void,
  reason: Error | undefined,
): void {
  try {
    handler(reason);
  } catch {
    // Nothing sane to do with it inside a socket event: swallowing beats crashing the process.
  }
}

/** Checks and completes options; shared with the dial and listen helpers. */
export function resolveOptions(opts: TcpConnectionOptions): Resolved {
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const resolved: Resolved = {
    maxFrameSize: opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    heartbeatMs,
    peerTimeoutMs: opts.peerTimeoutMs ?? 3 * heartbeatMs,
    maxOutboundBytes: opts.maxOutboundBytes ?? 16 * 1024 * 1024,
    frameDeadlineMs: opts.frameDeadlineMs ?? 10_000,
    closeGraceMs: opts.closeGraceMs ?? 1000,
    clock: opts.clock ?? systemClock,
  };
  for (const key of [
    'maxFrameSize',
    'heartbeatMs',
    'peerTimeoutMs',
    'maxOutboundBytes',
    'frameDeadlineMs',
    'closeGraceMs',
  ] as const) {
    const v = resolved[key];
    if (!Number.isFinite(v) || v <= 0) {
      throw new InvalidArgumentError(`${key} must be a positive number (got ${v})`);
    }
  }
  if (resolved.maxFrameSize > 0xffffffff || !Number.isInteger(resolved.maxFrameSize)) {
    throw new InvalidArgumentError(`maxFrameSize must be an integer below 2^32`);
  }
  return resolved;
}
