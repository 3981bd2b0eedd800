/**
 * Record ⇄ bytes, in one place (the bee-queue `toData` / `fromData` pair): the value the
 * Redis storage stores, and the compact form the memory storage keeps waiting jobs in.
 *
 * A job record is one msgpack array (a tuple), not a map: field names would be about 90 of
 * the bytes of a waiting job, and the target is ≤ 200 B of Redis memory per job. The id
 * and the node are not stored in it: they are the hash field and the key.
 *
 *   [format, name, args, distributor, enqueuedAt, runAt, delivery, status, attempt, dueAt,
 *    runs, updatedAt, startedAt?, lastError?, failedAt?, period?, cron?, tz?, maxAttempt?,
 *    retryMultiplier?, backoff?, timeout?, defer?, pinned?, crashes?, crashedOn?, nonce?,
 *    priority?, limit?, endAt?, progress?, trace?]
 *
 * - `format` 2: the times after `enqueuedAt` are stored relative to it (a few bytes each
 *   instead of a 9-byte float); used when every time is a safe integer, so the sums are
 *   exact. `format` 1: all times absolute (fractional times round-trip too).
 * - `status` is its index in {@link STATUS_CODES}; the order is part of the format.
 * - An absent optional field is nil; trailing nils are dropped.
 *
 * Feedbacks are tuples too ({@link encodeFeedback}); the first ones were plain maps.
 * Only plain msgpack is used: no records, no class-building extensions.
 */
import { Packr, Unpackr } from 'msgpackr';
import { InvalidArgumentError, StorageError, messageOf } from '../errors.ts';
import type { ErrorInfo } from '../errors.ts';
import type { BackoffSpec, Feedback, JobRecord, JobStatus } from '../model/job.ts';
import { cleanTraceCarrier } from '../protocol/trace-carrier.ts';

const FORMAT_ABSOLUTE = 1;
const FORMAT_RELATIVE = 2;

/** Status ⇄ small integer. Append only: the index is what is stored. */
export const STATUS_CODES: readonly JobStatus[] = [
  'new',
  'in progress',
  'queued',
  'error',
  'complete',
  'failed',
  'cancelled',
];
const STATUS_INDEX = new Map<JobStatus, number>(STATUS_CODES.map((s, i) => [s, i]));

// Immutable configuration objects (the packer's scratch buffer is internal to msgpackr).
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  variableMapSize: true,
});
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  int64AsType: 'number',
  copyBuffers: true,
});

/**
 * Small integers for strings many records share (job names, distributor ids), for a
 * storage that keeps its own table (the memory storage): a 36-character distributor id
 * becomes one byte per record. Bounded: past `limit` distinct strings, new ones are
 * stored in full. The Redis storage does not use one (its records must stand alone).
 */
export class StringTable {
  readonly #index = new Map<string, number>();
  readonly #strings: string[] = [];
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** The string's number, or the string itself when the table is full. */
  ref(s: string): number | string {
    const known = this.#index.get(s);
    if (known !== undefined) return known;
    if (this.#strings.length >= this.#limit) return s;
    const n = this.#strings.push(s) - 1;
    this.#index.set(s, n);
    return n;
  }

  get(n: number): string | undefined {
    return this.#strings[n];
  }
}

export function encodeRecord(job: JobRecord, table?: StringTable): Buffer {
  const base = job.enqueuedAt;
  // Times relative to enqueuedAt (smaller integers) when every one allows it. Checked and
  // written without an array or closure per record: every stored job passes here.
  const relative =
    Number.isSafeInteger(base) &&
    relativeOk(job.runAt, base) &&
    relativeOk(job.dueAt, base) &&
    relativeOk(job.updatedAt, base) &&
    relativeOk(job.startedAt, base) &&
    relativeOk(job.failedAt, base);
  const off = relative ? base : 0;
  const status = STATUS_INDEX.get(job.status);
  if (status === undefined) {
    throw new InvalidArgumentError(
      `cannot store job ${job.id}: unknown status ${JSON.stringify(job.status)}`,
    );
  }
  const tuple: unknown[] = [
    relative ? FORMAT_RELATIVE : FORMAT_ABSOLUTE,
    table ? table.ref(job.name) : job.name,
    job.args,
    table ? table.ref(job.distributor) : job.distributor,
    base,
    minus(job.runAt, off),
    job.delivery,
    status,
    job.attempt,
    minus(job.dueAt, off),
    job.runs,
    minus(job.updatedAt, off),
    minus(job.startedAt, off),
    job.lastError,
    minus(job.failedAt, off),
    job.period,
    job.cron,
    job.tz,
    job.maxAttempt,
    job.retryMultiplier,
    job.backoff,
    job.timeout,
    job.defer,
    job.pinned,
    job.crashes,
    job.crashedOn,
    job.nonce,
    job.priority,
    job.limit,
    job.endAt,
    job.progress,
    job.trace,
  ];
  while (tuple.length > 0 && tuple[tuple.length - 1] === undefined) tuple.pop();
  for (let i = 0; i < tuple.length; i++) if (tuple[i] === undefined) tuple[i] = null;
  try {
    return packr.pack(tuple);
  } catch (err) {
    throw new InvalidArgumentError(`cannot encode job ${job.id} to msgpack: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/** Whether time `t` (if any) can be stored relative to `base`. */
function relativeOk(t: number | undefined, base: number): boolean {
  return t === undefined || (Number.isSafeInteger(t) && Number.isSafeInteger(t - base));
}

/** `t - off`, or undefined. */
function minus(t: number | undefined, off: number): number | undefined {
  return t === undefined ? undefined : t - off;
}

/**
 * One `jrBatch` call's writes (see `redis-scripts.ts`): a msgpack array of four flat
 * arrays, [jobs to set (field, value, …), jobs to delete, feedbacks to set, feedbacks to
 * delete], from each hash's fields and their last value (`null`: deleted). Written by
 * hand: the script decodes it with Redis's `cmsgpack`, which knows no bin type, so every
 * field and value goes as a str32 (raw bytes, binary-safe), and the arrays as array32.
 */
export function encodeWrites(
  jobs: ReadonlyMap<string, Buffer | null>,
  feedbacks: ReadonlyMap<string, Buffer | null>,
): Buffer {
  let bound = 1 + 4 * 5;
  let jobSets = 0;
  let fbSets = 0;
  // Keys and get(), not entries: no [field, value] pair per write.
  for (const field of jobs.keys()) {
    const value = jobs.get(field)!;
    bound += 5 + field.length * 3 + (value === null ? 0 : 5 + value.length);
    if (value !== null) jobSets++;
  }
  for (const field of feedbacks.keys()) {
    const value = feedbacks.get(field)!;
    bound += 5 + field.length * 3 + (value === null ? 0 : 5 + value.length);
    if (value !== null) fbSets++;
  }
  const out = Buffer.allocUnsafe(bound);
  out[0] = 0x94; // fixarray of 4
  let pos = writeGroup(out, 1, jobs, jobSets, true);
  pos = writeGroup(out, pos, jobs, jobs.size - jobSets, false);
  pos = writeGroup(out, pos, feedbacks, fbSets, true);
  pos = writeGroup(out, pos, feedbacks, feedbacks.size - fbSets, false);
  return out.subarray(0, pos);
}

/** The sets (field, value, …) or the deletions (field, …) of one hash, as an array32. */
function writeGroup(
  out: Buffer,
  at: number,
  fields: ReadonlyMap<string, Buffer | null>,
  count: number,
  sets: boolean,
): number {
  out[at] = 0xdd;
  out.writeUInt32BE(sets ? count * 2 : count, at + 1);
  let pos = at + 5;
  if (count === 0) return pos;
  for (const field of fields.keys()) {
    const value = fields.get(field)!;
    if ((value !== null) !== sets) continue;
    out[pos] = 0xdb;
    const n = out.write(field, pos + 5, 'utf8');
    out.writeUInt32BE(n, pos + 1);
    pos += 5 + n;
    if (value !== null) {
      out[pos] = 0xdb;
      out.writeUInt32BE(value.length, pos + 1);
      out.set(value, pos + 5);
      pos += 5 + value.length;
    }
  }
  return pos;
}

/** Decodes a stored record; `id` and `node` come from where it was found. */
export function decodeRecord(
  value: Buffer,
  id: string,
  node: string,
  table?: StringTable,
): JobRecord {
  const where = `stored job ${JSON.stringify(id)} of node ${node}`;
  let t: unknown;
  try {
    t = unpackr.unpack(value);
  } catch (err) {
    throw new StorageError(`${where} is not valid msgpack: ${messageOf(err)}`, { cause: err });
  }
  if (!Array.isArray(t) || t.length < 12) throw new StorageError(`${where} is not a job record`);
  const f = new Fields(t, where);
  const format = t[0];
  if (format !== FORMAT_ABSOLUTE && format !== FORMAT_RELATIVE) {
    throw new StorageError(`${where} has unknown format ${JSON.stringify(format)}`);
  }
  const enqueuedAt = f.num(4, 'enqueuedAt');
  const base = format === FORMAT_RELATIVE ? enqueuedAt : 0;
  const time = (i: number, name: string) => base + f.num(i, name);
  const optTime = (i: number, name: string) => (f.absent(i) ? undefined : time(i, name));
  const status = STATUS_CODES[f.num(7, 'status')];
  if (status === undefined) throw new StorageError(`${where} has an unknown status code`);

  const job: JobRecord = {
    id,
    name: f.shared(1, 'name', table),
    args: f.obj(2, 'args'),
    distributor: f.shared(3, 'distributor', table),
    enqueuedAt,
    runAt: time(5, 'runAt'),
    delivery: f.num(6, 'delivery'),
    node,
    status,
    attempt: f.num(8, 'attempt'),
    dueAt: time(9, 'dueAt'),
    runs: f.num(10, 'runs'),
    updatedAt: time(11, 'updatedAt'),
  };
  const startedAt = optTime(12, 'startedAt');
  if (startedAt !== undefined) job.startedAt = startedAt;
  if (!f.absent(13)) job.lastError = f.obj(13, 'lastError') as unknown as ErrorInfo;
  const failedAt = optTime(14, 'failedAt');
  if (failedAt !== undefined) job.failedAt = failedAt;
  if (!f.absent(15)) job.period = f.num(15, 'period');
  if (!f.absent(16)) job.cron = f.str(16, 'cron');
  if (!f.absent(17)) job.tz = f.str(17, 'tz');
  if (!f.absent(18)) job.maxAttempt = f.num(18, 'maxAttempt');
  if (!f.absent(19)) job.retryMultiplier = f.num(19, 'retryMultiplier');
  if (!f.absent(20)) job.backoff = f.obj(20, 'backoff') as unknown as BackoffSpec;
  if (!f.absent(21)) job.timeout = f.num(21, 'timeout');
  if (!f.absent(22)) job.defer = f.bool(22, 'defer');
  if (!f.absent(23)) job.pinned = f.bool(23, 'pinned');
  if (!f.absent(24)) job.crashes = f.num(24, 'crashes');
  if (!f.absent(25)) job.crashedOn = f.strs(25, 'crashedOn');
  if (!f.absent(26)) job.nonce = f.str(26, 'nonce');
  if (!f.absent(27)) job.priority = f.num(27, 'priority');
  if (!f.absent(28)) job.limit = f.num(28, 'limit');
  if (!f.absent(29)) job.endAt = f.num(29, 'endAt');
  if (!f.absent(30)) job.progress = f.value(30);
  // Best effort, as on the wire: a trace that is not a usable carrier is dropped, not an error.
  const trace = f.absent(31) ? undefined : cleanTraceCarrier(f.value(31));
  if (trace !== undefined) job.trace = trace;
  return job;
}

/**
 * A feedback as a msgpack tuple (no field names, about half the bytes and the packing
 * time of a map):
 *
 *   [format 1, jobId (nil: the key), distributor, node, outcome, final, args, attempt,
 *    error?, inErrback?, byApp?, next?, runs?]
 *
 * The key is not in it: it is the hash field. Feedbacks stored as plain maps (before the
 * tuple) still decode.
 */
export function encodeFeedback(feedback: Feedback): Buffer {
  const tuple: unknown[] = [
    FEEDBACK_FORMAT,
    feedback.jobId === feedback.key ? null : feedback.jobId,
    feedback.distributor,
    feedback.node,
    feedback.outcome,
    feedback.final,
    feedback.args,
    feedback.attempt,
  ];
  const { error, inErrback, byApp, next, runs } = feedback;
  if (
    error !== undefined ||
    inErrback !== undefined ||
    byApp !== undefined ||
    next !== undefined ||
    runs !== undefined
  ) {
    tuple.push(error, inErrback, byApp, next, runs);
    while (tuple[tuple.length - 1] === undefined) tuple.pop();
    for (let i = 0; i < tuple.length; i++) if (tuple[i] === undefined) tuple[i] = null;
  }
  try {
    return packr.pack(tuple);
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot encode feedback ${feedback.key} to msgpack: ${messageOf(err)}`,
      { cause: err },
    );
  }
}

const FEEDBACK_FORMAT = 1;

export function decodeFeedback(value: Buffer, key: string, node: string): Feedback {
  const where = `stored feedback ${JSON.stringify(key)} of node ${node}`;
  let fb: unknown;
  try {
    fb = unpackr.unpack(value);
  } catch (err) {
    throw new StorageError(`${where} is not valid msgpack: ${messageOf(err)}`, { cause: err });
  }
  if (Array.isArray(fb)) return feedbackFromTuple(fb, key, where);
  if (!isPlainObject(fb) || typeof fb.key !== 'string' || typeof fb.jobId !== 'string') {
    throw new StorageError(`${where} is not a feedback`);
  }
  return fb as unknown as Feedback;
}

function feedbackFromTuple(t: unknown[], key: string, where: string): Feedback {
  if (t.length < 8 || t[0] !== FEEDBACK_FORMAT)
    throw new StorageError(`${where} is not a feedback`);
  const f = new Fields(t, where);
  const fb: Feedback = {
    key,
    jobId: f.absent(1) ? key : f.str(1, 'jobId'),
    distributor: f.str(2, 'distributor'),
    node: f.str(3, 'node'),
    outcome: f.str(4, 'outcome') as Feedback['outcome'],
    final: f.bool(5, 'final'),
    args: f.obj(6, 'args'),
    attempt: f.num(7, 'attempt'),
  };
  if (!f.absent(8)) fb.error = f.obj(8, 'error') as unknown as ErrorInfo;
  if (!f.absent(9)) fb.inErrback = f.bool(9, 'inErrback');
  if (!f.absent(10)) fb.byApp = f.bool(10, 'byApp');
  if (!f.absent(11)) fb.next = f.num(11, 'next');
  if (!f.absent(12)) fb.runs = f.num(12, 'runs');
  return fb;
}

/** Typed reads of tuple slots; a wrong type means the value is corrupt (StorageError). */
class Fields {
  readonly #t: unknown[];
  readonly #where: string;
  constructor(t: unknown[], where: string) {
    this.#t = t;
    this.#where = where;
  }
  absent(i: number): boolean {
    return this.#t[i] === undefined || this.#t[i] === null;
  }
  num(i: number, name: string): number {
    const v = this.#t[i];
    if (typeof v !== 'number') throw this.#bad(name);
    return v;
  }
  str(i: number, name: string): string {
    const v = this.#t[i];
    if (typeof v !== 'string') throw this.#bad(name);
    return v;
  }
  /** A string, or its number in `table` (see {@link StringTable}). */
  shared(i: number, name: string, table: StringTable | undefined): string {
    const v = this.#t[i];
    if (typeof v === 'number' && table !== undefined) {
      const s = table.get(v);
      if (s !== undefined) return s;
    }
    return this.str(i, name);
  }
  strs(i: number, name: string): string[] {
    const v = this.#t[i];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw this.#bad(name);
    return v;
  }
  bool(i: number, name: string): boolean {
    const v = this.#t[i];
    if (typeof v !== 'boolean') throw this.#bad(name);
    return v;
  }
  /** Any value (a progress report: a number or a plain object). */
  value(i: number): unknown {
    return this.#t[i];
  }
  obj(i: number, name: string): Record<string, unknown> {
    const v = this.#t[i];
    if (!isPlainObject(v)) throw this.#bad(name);
    return v;
  }
  #bad(name: string): StorageError {
    return new StorageError(`${this.#where} has a malformed ${name}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
