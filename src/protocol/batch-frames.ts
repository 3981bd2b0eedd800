import { InvalidArgumentError, PayloadTooLargeError, messageOf } from '../errors.ts';
import type { Feedback, JobSpec } from '../model/job.ts';
import { FRAME_HEADER_SIZE, FRAME_VERSION, packChecked } from './codec.ts';
import { argsProblem, validateFeedback, validateJobSpec } from './validate.ts';
import { feedbackTuple, jobTuple } from './wire-forms.ts';

/**
 * Batched frames: the items of `jobs` and `feedbacks` messages, each encoded and checked
 * once, assembled into frames without re-encoding; and the cutting of long id lists
 * (accepted, runs, fback) into frames that fit the size limit.
 */

/**
 * Room a batch frame's own fields take around its items (map header, `t`, the items key,
 * a 32-bit array header): an item may be at most `maxFrameSize - BATCH_OVERHEAD` bytes.
 */
export const BATCH_OVERHEAD = 24;

/**
 * One job as it travels inside a `jobs` frame, encoded and checked once (at enqueue): the
 * receiver's checks on its fields, then the receiver's byte scan. Throws
 * InvalidArgumentError for bad content, PayloadTooLargeError when it cannot fit a frame.
 */
export function encodeJobItem(spec: JobSpec, maxFrameSize: number): Buffer {
  try {
    validateJobSpec(spec);
  } catch (err) {
    // Bad args are the caller's (enqueue): say which value, and what to send instead.
    const args = argsProblem(spec.args);
    if (args !== undefined) {
      throw new InvalidArgumentError(`args of job '${spec.name}' cannot be sent: ${args}`, {
        cause: err,
      });
    }
    throw new InvalidArgumentError(`cannot send this job: ${messageOf(err)}`, { cause: err });
  }
  return fitItem(packChecked(jobTuple(spec)), maxFrameSize, `job ${spec.name}`);
}

/** One feedback as it travels inside a `feedbacks` frame (same checks as `encodeJobItem`). */
export function encodeFeedbackItem(fb: Feedback, maxFrameSize: number): Buffer {
  try {
    validateFeedback(fb);
  } catch (err) {
    throw new InvalidArgumentError(`cannot send this feedback: ${messageOf(err)}`, {
      cause: err,
    });
  }
  return fitItem(packChecked(feedbackTuple(fb)), maxFrameSize, `feedback of job ${fb.jobId}`);
}

function fitItem(body: Buffer, maxFrameSize: number, what: string): Buffer {
  if (body.length > maxFrameSize - BATCH_OVERHEAD) {
    throw new PayloadTooLargeError(
      `the ${what} is ${body.length} bytes encoded, over the maximum frame size ${maxFrameSize}`,
    );
  }
  return body;
}

/**
 * Items of one batched message kind (`jobs` or `feedbacks`), encoded one by one and sent as
 * few frames as the size limit allows: one per event-loop turn on the hot path. The frame
 * is assembled from the items' bytes with no re-encoding: a header, a map of `t` and the
 * items key, a 32-bit array header, the items.
 */
export class ItemBatch {
  readonly #prefix: Buffer;
  readonly #maxFrameSize: number;
  #items: Buffer[] = [];
  #bytes = 0;

  constructor(t: 'jobs' | 'feedbacks', maxFrameSize: number) {
    const key = t === 'jobs' ? 'j' : 'f';
    // 0x82: map of 2; 0xa1 't'; fixstr tag; 0xa1 key; then 0xdd + u32 count per frame.
    this.#prefix = Buffer.from([
      0x82,
      0xa1,
      0x74,
      0xa0 | t.length,
      ...Buffer.from(t),
      0xa1,
      key.charCodeAt(0),
    ]);
    this.#maxFrameSize = maxFrameSize;
  }

  get size(): number {
    return this.#items.length;
  }

  /** The largest item a frame of this batch holds. */
  get maxItemBytes(): number {
    return this.#maxFrameSize - this.#prefix.length - 5;
  }

  /** Bytes of the items added since the last flush. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds an item made by `encodeJobItem` / `encodeFeedbackItem`. */
  add(item: Buffer): void {
    this.#items.push(item);
    this.#bytes += item.length;
  }

  /** Hands the frames for every item added so far to `send`, in order, and empties the batch. */
  flush(send: (frame: Buffer) => void): void {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = [];
    const total = this.#bytes;
    this.#bytes = 0;
    const limit = this.maxItemBytes;
    if (total <= limit) return send(this.#frame(items, 0, items.length, total));
    for (const [from, to, bytes] of sizeRuns(items.length, (i) => items[i]!.length, limit)) {
      send(this.#frame(items, from, to, bytes));
    }
  }

  #frame(items: Buffer[], from: number, to: number, itemBytes: number): Buffer {
    const prefix = this.#prefix;
    const bodyLength = prefix.length + 5 + itemBytes;
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + bodyLength);
    frame[0] = FRAME_VERSION;
    frame.writeUInt32BE(bodyLength, 1);
    let at = FRAME_HEADER_SIZE + prefix.copy(frame, FRAME_HEADER_SIZE);
    frame[at] = 0xdd;
    frame.writeUInt32BE(to - from, at + 1);
    at += 5;
    for (let i = from; i < to; i++) at += items[i]!.copy(frame, at);
    return frame;
  }
}

/**
 * Cuts `count` items of sizes `sizeOf(i)` into consecutive runs of at most `budget` bytes
 * (an item larger than the budget makes a run of its own): `[from, to, bytes]`.
 */
function* sizeRuns(
  count: number,
  sizeOf: (i: number) => number,
  budget: number,
): Generator<[number, number, number]> {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i);
    if (bytes + size > budget && i > from) {
      yield [from, i, bytes];
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < count) yield [from, count, bytes];
}

/**
 * A list of ids or keys cut into parts that each fit one frame (counting the worst case: 3
 * bytes per UTF-16 unit and a 5-byte header per string), so a turn with more of them than
 * a frame holds, or a small `maxFrameSize`, never makes a frame too large to send. The
 * usual short list comes back whole, uncopied.
 */
export function* idParts(ids: string[], maxFrameSize: number): Generator<string[]> {
  const budget = Math.max(maxFrameSize - 64, 1);
  for (const [from, to] of sizeRuns(ids.length, (i) => 5 + 3 * ids[i]!.length, budget)) {
    yield from === 0 && to === ids.length ? ids : ids.slice(from, to);
  }
}
