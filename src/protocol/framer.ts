import {
  ClosedError,
  FrameTooLargeError,
  InvalidArgumentError,
  JobReactorError,
  MalformedFrameError,
} from '../errors.ts';
import { FRAME_HEADER_SIZE, FRAME_VERSION, decodeBody } from './codec.ts';
import type { Message } from './messages.ts';

export interface FrameDecoderOptions {
  /** Largest body accepted, in bytes; a header announcing more fails at once. */
  maxFrameSize: number;
}

/** A partial body starts this small and doubles, so a slow dribble does not reserve the max. */
const MIN_BODY_ALLOC = 64 * 1024;

/**
 * Incremental decoder: bytes in, validated messages out. Pure (no sockets, no timers), so
 * it is tested whole, split at every byte and coalesced.
 *
 * Each input byte is copied at most a few times: a body that sits inside one chunk is decoded
 * in place; a body split across chunks goes into one buffer that grows by doubling (amortized
 * linear, even for a 1 MiB body in 1-byte chunks). Nothing of an oversized body is buffered:
 * the header alone rejects it. The first byte of a frame must be the version, so e.g. an
 * HTTP request to the port fails on its first byte.
 *
 * States: header → body → header …; any error → failed (terminal; every later push throws
 * the same error).
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  readonly #header = new Uint8Array(FRAME_HEADER_SIZE);
  #headerFill = 0;
  /** Body length of the current frame; -1 while reading a header. */
  #bodyLength = -1;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #error: JobReactorError | null = null;
  #frames = 0;

  constructor(opts: FrameDecoderOptions) {
    const max = opts.maxFrameSize;
    if (!Number.isSafeInteger(max) || max < 1 || max > 0xffffffff) {
      throw new InvalidArgumentError(`maxFrameSize must be an integer in 1..2^32-1 (got ${max})`);
    }
    this.#maxFrameSize = max;
  }

  /** True while part of a frame (header or body) has arrived and the rest has not. */
  get inFrame(): boolean {
    return this.#headerFill > 0 || this.#bodyLength >= 0;
  }

  /** Frames decoded so far (lets a caller tell a new partial frame from an old one). */
  get frames(): number {
    return this.#frames;
  }

  /** True once a push has thrown: the stream cannot be resynchronized. */
  get failed(): boolean {
    return this.#error !== null;
  }

  /**
   * Decodes every complete frame in `chunk`. Throws `FrameTooLargeError`,
   * `MalformedFrameError` or `ProtocolError` on bad input; messages decoded earlier in the
   * same chunk are then lost (use `decode` to receive them first).
   */
  push(chunk: Uint8Array): Message[] {
    const out: Message[] = [];
    this.decode(chunk, (m) => out.push(m));
    return out;
  }

  /**
   * Like `push`, but hands each message to `sink` as soon as it is decoded, so messages that
   * precede a bad frame in the same chunk are delivered before the throw. If `sink` throws,
   * its exception propagates and the decoder is closed (the rest of the chunk is unread, so
   * the stream cannot continue).
   */
  decode(chunk: Uint8Array, sink: (message: Message) => void): void {
    if (this.#error !== null) throw this.#error;
    try {
      this.#decode(chunk, sink);
    } catch (err) {
      this.#body = null;
      if (err instanceof SinkError) {
        this.#error = new ClosedError('frame decoder stopped: its message sink threw');
        throw err.inner;
      }
      this.#error =
        err instanceof JobReactorError
          ? err
          : new MalformedFrameError('undecodable frame', { cause: err });
      throw this.#error;
    }
  }

  /** Marks the decoder closed; later pushes throw `ClosedError`. */
  close(): void {
    this.#error ??= new ClosedError('frame decoder is closed');
    this.#body = null;
  }

  #decode(chunk: Uint8Array, sink: (message: Message) => void): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.#bodyLength < 0) {
        if (this.#headerFill === 0 && len - pos >= FRAME_HEADER_SIZE) {
          // Fast path: the whole header is in this chunk.
          this.#startBody(chunk, pos);
          pos += FRAME_HEADER_SIZE;
        } else {
          const b = chunk[pos++]!;
          if (this.#headerFill === 0) this.#checkVersion(b);
          this.#header[this.#headerFill++] = b;
          if (this.#headerFill < FRAME_HEADER_SIZE) continue;
          this.#headerFill = 0;
          this.#startBody(this.#header, 0);
        }
      }
      const need = this.#bodyLength - this.#bodyFill;
      const avail = len - pos;
      if (this.#bodyFill === 0 && avail >= need) {
        // The whole body is in this chunk: decode in place, no copy.
        const body = chunk.subarray(pos, pos + need);
        pos += need;
        this.#bodyLength = -1;
        this.#emit(decodeBody(body), sink);
        // The sink may have closed us (its link went down): stop reading.
        if (this.#error !== null) return;
        continue;
      }
      const take = avail < need ? avail : need;
      this.#reserve(this.#bodyFill + take);
      this.#body!.set(chunk.subarray(pos, pos + take), this.#bodyFill);
      this.#bodyFill += take;
      pos += take;
      if (this.#bodyFill === this.#bodyLength) {
        const body = this.#body!.subarray(0, this.#bodyLength);
        this.#body = null;
        this.#bodyFill = 0;
        this.#bodyLength = -1;
        this.#emit(decodeBody(body), sink);
        if (this.#error !== null) return;
      }
    }
  }

  #checkVersion(b: number): void {
    if (b !== FRAME_VERSION) {
      throw new MalformedFrameError(
        `bad frame version byte 0x${b.toString(16).padStart(2, '0')} (expected ${FRAME_VERSION}): not a job-reactor peer`,
      );
    }
  }

  #startBody(src: Uint8Array, at: number): void {
    this.#checkVersion(src[at]!);
    const length =
      src[at + 1]! * 0x1000000 + ((src[at + 2]! << 16) | (src[at + 3]! << 8) | src[at + 4]!);
    if (length > this.#maxFrameSize) {
      throw new FrameTooLargeError(
        `frame of ${length} bytes announced, over the maximum ${this.#maxFrameSize}`,
      );
    }
    if (length === 0) throw new MalformedFrameError('empty frame body');
    this.#bodyLength = length;
    this.#bodyFill = 0;
  }

  /** Grows the partial-body buffer geometrically, capped at the announced length. */
  #reserve(size: number): void {
    const cur = this.#body;
    if (cur !== null && cur.length >= size) return;
    let cap = cur === null ? MIN_BODY_ALLOC : cur.length * 2;
    if (cap < size) cap = size;
    if (cap > this.#bodyLength) cap = this.#bodyLength;
    const next = new Uint8Array(cap);
    if (cur !== null) next.set(cur.subarray(0, this.#bodyFill));
    this.#body = next;
  }

  #emit(message: Message, sink: (message: Message) => void): void {
    this.#frames++;
    try {
      sink(message);
    } catch (err) {
      throw new SinkError(err);
    }
  }
}

/** Carries a sink's exception through the decoder without marking the stream as failed. */
class SinkError {
  constructor(readonly inner: unknown) {}
}
