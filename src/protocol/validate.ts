import { ProtocolError } from '../errors.ts';
import type { Feedback, JobSpec } from '../model/job.ts';
import { PROTOCOL_VERSION, type Message } from './messages.ts';
import { cleanTraceCarrier } from './trace-carrier.ts';
import {
  FB_BY_APP,
  FB_CODE_MAX,
  FB_FINAL,
  FB_IN_ERRBACK,
  JOB_OPTION_KEYS,
  OUTCOME_CODES,
} from './wire-forms.ts';

/**
 * Structural check of every message kind, run on each decoded message (and on each sent
 * one, by the codec). Hand-written rather than schema-driven because it is on the hot path:
 * a few `typeof` tests per field, and errors build their field path only when they fail.
 *
 * Unknown extra fields are ignored (a same-version peer may add optional ones); missing or
 * mistyped known fields throw `ProtocolError` naming the field. Free-form data (job and
 * feedback `args`, error `details`) must be plain data: null, booleans, numbers, strings,
 * byte arrays, arrays and plain objects, at most MAX_ARGS_DEPTH deep, with no
 * `__proto__` / `constructor` / `prototype` keys.
 *
 * Batched messages arrive in their wire form (`jobs.j`, `feedbacks.f`: tuples, see
 * wire-forms.ts) and come out as objects (`jobs.jobs`, `feedbacks.fbs`), each checked.
 */
export const MAX_ARGS_DEPTH = 64;

type Obj = Record<string, unknown>;

export function validateMessage(value: unknown): Message {
  if (!isPlainObject(value)) throw bad('message', 'must be a plain object');
  const m = value;
  switch (m.t) {
    case 'hello':
      int(m, 'v', 'hello');
      // Another version's hello may lack this version's fields: the handshake refuses it
      // with VersionMismatchError, which says more than a missing field would.
      if (m.v !== PROTOCOL_VERSION) break;
      str(m, 'node', 'hello');
      str(m, 'instance', 'hello');
      count(m, 'capacity', 'hello');
      count(m, 'window', 'hello');
      count(m, 'windowBytes', 'hello');
      bool(m, 'durable', 'hello');
      strArray(m, 'jobs', 'hello');
      if (m.outbox !== undefined) count(m, 'outbox', 'hello');
      if (m.maxFrame !== undefined) frameLimit(m, 'hello');
      str(m, 'nonce', 'hello');
      break;
    case 'challenge':
      int(m, 'v', 'challenge');
      str(m, 'distributor', 'challenge');
      if (m.maxFrame !== undefined) frameLimit(m, 'challenge');
      str(m, 'nonce', 'challenge');
      str(m, 'proof', 'challenge');
      break;
    case 'auth':
      str(m, 'proof', 'auth');
      break;
    case 'ready':
    case 'drain':
      break;
    case 'ping':
    case 'pong':
      if (m.id !== undefined) count(m, 'id', m.t);
      break;
    case 'jobs':
      return { t: 'jobs', jobs: tuples(m.j, 'jobs.j', jobFromTuple) };
    case 'accepted':
      strArray(m, 'ids', 'accepted');
      break;
    case 'rejected':
      strArray(m, 'ids', 'rejected');
      errorInfo(m.error, 'rejected.error');
      break;
    case 'credit':
      count(m, 'n', 'credit');
      break;
    case 'status':
      bool(m, 'accepting', 'status');
      strArray(m, 'jobs', 'status');
      break;
    case 'feedbacks':
      return { t: 'feedbacks', fbs: tuples(m.f, 'feedbacks.f', feedbackFromTuple) };
    case 'fback':
      strArray(m, 'keys', 'fback');
      break;
    case 'runs':
      strArray(m, 'started', 'runs');
      strArray(m, 'stopped', 'runs');
      if (m.attempts !== undefined) {
        const a = m.attempts;
        const stopped = m.stopped as string[];
        if (
          !Array.isArray(a) ||
          a.length !== stopped.length ||
          !a.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
        ) {
          throw bad('runs.attempts', 'must be one non-negative integer per stopped id');
        }
      }
      break;
    case 'reconcile':
    case 'owned':
      strArray(m, 'ids', m.t);
      break;
    case 'cancel':
      nonEmpty(m, 'id', 'cancel');
      count(m, 'req', 'cancel');
      break;
    case 'cancelled':
      count(m, 'req', 'cancelled');
      bool(m, 'ok', 'cancelled');
      break;
    case 'progress': {
      strArray(m, 'ids', 'progress');
      const values = m.values;
      if (!Array.isArray(values) || values.length !== (m.ids as string[]).length) {
        throw bad('progress.values', 'must be one value per id');
      }
      for (let i = 0; i < values.length; i++) progressValue(values[i], `progress.values[${i}]`);
      break;
    }
    case 'limits':
      strArray(m, 'names', 'limits');
      break;
    case 'permits':
      strArray(m, 'ids', 'permits');
      strArray(m, 'names', 'permits');
      if ((m.names as string[]).length !== (m.ids as string[]).length) {
        throw bad('permits.names', 'must be one name per id');
      }
      break;
    case 'granted':
      strArray(m, 'ids', 'granted');
      break;
    case 'query':
      count(m, 'req', 'query');
      if (m.id !== undefined) nonEmpty(m, 'id', 'query');
      if (m.retry !== undefined) nonEmpty(m, 'retry', 'query');
      if (m.list !== undefined) listQuery(m.list, 'query.list');
      break;
    case 'answer':
      count(m, 'req', 'answer');
      if (m.job !== undefined && m.job !== null) jobView(m.job, 'answer.job');
      if (m.counts !== undefined) nodeCounts(m.counts, 'answer.counts');
      if (m.jobs !== undefined) {
        if (!Array.isArray(m.jobs)) throw bad('answer.jobs', 'must be an array');
        for (let i = 0; i < m.jobs.length; i++) jobView(m.jobs[i], `answer.jobs[${i}]`);
      }
      if (m.next !== undefined) nonEmpty(m, 'next', 'answer');
      if (m.retried !== undefined) bool(m, 'retried', 'answer');
      if (m.error !== undefined) errorInfo(m.error, 'answer.error');
      break;
    case 'error':
      errorInfo(m.error, 'error.error');
      break;
    default:
      throw bad('t', `unknown message type ${describe(m.t)}`);
  }
  return value as unknown as Message;
}

/** The items of a batched message, each read (and checked) from its tuple. */
function tuples<T>(v: unknown, where: string, read: (tuple: unknown, where: string) => T): T[] {
  if (!Array.isArray(v)) throw bad(where, 'must be an array of tuples');
  const out = new Array<T>(v.length);
  for (let i = 0; i < v.length; i++) {
    try {
      out[i] = read(v[i], where);
    } catch (err) {
      // The item's own path (`jobs.j[12]`) is built only for a refusal: the readers are pure,
      // so reading it again says the same with the index (no path string per job otherwise).
      read(v[i], `${where}[${i}]`);
      throw err;
    }
  }
  return out;
}

/**
 * A job as a distributor builds it, before it is sent: the same checks a node runs on the
 * tuple, so a distributor never sends what the node would refuse. Throws ProtocolError.
 */
export function validateJobSpec(spec: JobSpec): void {
  if (!isPlainObject(spec)) throw bad('job', 'must be a plain object');
  nonEmpty(spec, 'distributor', 'job');
  jobSpec(spec, 'job');
}

/** A job tuple from the wire, as a spec (its `distributor` is filled in by the receiver). */
function jobFromTuple(v: unknown, where: string): JobSpec {
  if (!Array.isArray(v) || (v.length !== 6 && v.length !== 7)) {
    throw bad(where, 'must be [id, name, args, enqueuedAt, runAt, delivery, options?]');
  }
  const spec: Obj = {
    id: v[0],
    name: v[1],
    args: v[2],
    distributor: '',
    enqueuedAt: v[3],
    runAt: v[4],
    delivery: v[5],
  };
  if (v.length === 7) {
    const o: unknown = v[6];
    if (!isPlainObject(o)) throw bad(`${where}[6]`, 'must be a plain object');
    // Known keys only: an unknown one is ignored (a same-version peer may add some).
    for (const key of JOB_OPTION_KEYS) if (o[key] !== undefined) spec[key] = o[key];
  }
  jobSpec(spec, where);
  return spec as unknown as JobSpec;
}

function jobSpec(v: Obj, where: string): void {
  nonEmpty(v, 'id', where);
  nonEmpty(v, 'name', where);
  plainArgs(v.args, where, '.args');
  finite(v, 'enqueuedAt', where);
  finite(v, 'runAt', where);
  count(v, 'delivery', where);
  if (v.period !== undefined) positive(v, 'period', where);
  if (v.cron !== undefined) nonEmpty(v, 'cron', where);
  if (v.tz !== undefined) nonEmpty(v, 'tz', where);
  if (v.maxAttempt !== undefined) count(v, 'maxAttempt', where);
  if (v.retryMultiplier !== undefined) nonNegative(v, 'retryMultiplier', where);
  if (v.timeout !== undefined) positive(v, 'timeout', where);
  if (v.defer !== undefined) bool(v, 'defer', where);
  if (v.backoff !== undefined) backoff(v.backoff, `${where}.backoff`);
  if (v.pinned !== undefined) bool(v, 'pinned', where);
  if (v.crashes !== undefined) count(v, 'crashes', where);
  if (v.crashedOn !== undefined) strArray(v, 'crashedOn', where);
  if (v.runs !== undefined) count(v, 'runs', where);
  if (v.attempt !== undefined) count(v, 'attempt', where);
  if (v.nonce !== undefined) nonEmpty(v, 'nonce', where);
  if (v.priority !== undefined) count(v, 'priority', where);
  if (v.limit !== undefined) count(v, 'limit', where);
  if (v.endAt !== undefined) finite(v, 'endAt', where);
  if (v.trace !== undefined) keepUsableTrace(v);
}

/**
 * Tracing is best effort: a carrier out of bounds is cut down to what fits, or dropped,
 * and the job goes on (see trace-carrier.ts): the one field that is mended, not refused.
 * The receiver's spec is a fresh object read from the tuple; a distributor's own spec
 * was cleaned at enqueue already, so this changes nothing it sends.
 */
function keepUsableTrace(v: Obj): void {
  const trace = cleanTraceCarrier(v.trace);
  if (trace === undefined) delete v.trace;
  else v.trace = trace;
}

/** A progress value: a finite number or plain data (its size is bounded by the sender). */
function progressValue(v: unknown, where: string): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(where, 'must be a finite number or a plain object');
    return;
  }
  plainArgs(v, where);
}

function jobView(v: unknown, where: string): void {
  if (!isPlainObject(v)) throw bad(where, 'must be a plain object');
  nonEmpty(v, 'id', where);
  nonEmpty(v, 'name', where);
  nonEmpty(v, 'status', where);
  count(v, 'attempt', where);
  count(v, 'delivery', where);
  finite(v, 'dueAt', where);
  finite(v, 'enqueuedAt', where);
  count(v, 'runs', where);
  plainArgs(v.args, `${where}.args`);
  if (v.priority !== undefined) count(v, 'priority', where);
  if (v.progress !== undefined) progressValue(v.progress, `${where}.progress`);
  if (v.lastError !== undefined) errorInfo(v.lastError, `${where}.lastError`);
}

function listQuery(v: unknown, where: string): void {
  if (!isPlainObject(v)) throw bad(where, 'must be a plain object');
  if (v.status !== undefined) strArray(v, 'status', where);
  if (v.name !== undefined) nonEmpty(v, 'name', where);
  if (v.after !== undefined) nonEmpty(v, 'after', where);
  count(v, 'limit', where);
  if ((v.limit as number) < 1) throw bad(`${where}.limit`, 'must be at least 1');
}

function nodeCounts(v: unknown, where: string): void {
  if (!isPlainObject(v)) throw bad(where, 'must be a plain object');
  for (const key of ['running', 'ready', 'scheduled', 'complete', 'failed']) count(v, key, where);
}

function backoff(v: unknown, where: string): void {
  if (!isPlainObject(v)) throw bad(where, 'must be a plain object');
  if (v.type !== 'fixed' && v.type !== 'linear' && v.type !== 'exponential') {
    throw bad(`${where}.type`, `unknown backoff type ${describe(v.type)}`);
  }
  nonNegative(v, 'delay', where);
  if (v.type === 'exponential') {
    if (v.maxDelay !== undefined) nonNegative(v, 'maxDelay', where);
    if (v.jitter !== undefined) {
      nonNegative(v, 'jitter', where);
      if ((v.jitter as number) > 1) throw bad(`${where}.jitter`, 'must be between 0 and 1');
    }
  }
}

/** A feedback tuple from the wire, as a feedback (`node`, `distributor` filled in by the receiver). */
function feedbackFromTuple(v: unknown, where: string): Feedback {
  if (!Array.isArray(v) || (v.length !== 4 && v.length !== 5)) {
    throw bad(where, 'must be [jobId, code, attempt, args, extra?]');
  }
  const code: unknown = v[1];
  if (
    !Number.isInteger(code) ||
    (code as number) < 0 ||
    (code as number) > FB_CODE_MAX ||
    ((code as number) & 3) === 3
  ) {
    throw bad(`${where}[1]`, `is not a feedback code (got ${describe(code)})`);
  }
  const c = code as number;
  const fb: Obj = {
    key: v[0],
    jobId: v[0],
    distributor: '',
    node: '',
    outcome: OUTCOME_CODES[c & 3],
    final: (c & FB_FINAL) !== 0,
    args: v[3],
    attempt: v[2],
  };
  if (c & FB_IN_ERRBACK) fb.inErrback = true;
  if (c & FB_BY_APP) fb.byApp = true;
  if (v.length === 5) {
    const x: unknown = v[4];
    if (!isPlainObject(x)) throw bad(`${where}[4]`, 'must be a plain object');
    if (x.key !== undefined) fb.key = x.key;
    if (x.error !== undefined) fb.error = x.error;
    if (x.next !== undefined) fb.next = x.next;
    if (x.runs !== undefined) fb.runs = x.runs;
  }
  feedback(fb, where);
  return fb as unknown as Feedback;
}

/**
 * A feedback as a node builds it, before it is sent: the receiver's checks on the fields
 * its tuple carries (no tuple is built). Throws ProtocolError.
 */
export function validateFeedback(fb: Feedback): void {
  const v = fb as unknown as Obj;
  if (!isPlainObject(v)) throw bad('feedback', 'must be a plain object');
  if (v.outcome !== 'success' && v.outcome !== 'error' && v.outcome !== 'cancelled') {
    throw bad('feedback.outcome', `unknown outcome ${describe(v.outcome)}`);
  }
  bool(v, 'final', 'feedback');
  if (v.byApp !== undefined) bool(v, 'byApp', 'feedback');
  feedback(v, 'feedback');
}

function feedback(v: Obj, where: string): void {
  nonEmpty(v, 'key', where);
  nonEmpty(v, 'jobId', where);
  plainArgs(v.args, where, '.args');
  if (v.error !== undefined) errorInfo(v.error, `${where}.error`);
  count(v, 'attempt', where);
  if (v.inErrback !== undefined) bool(v, 'inErrback', where);
  if (v.next !== undefined) finite(v, 'next', where);
  if (v.runs !== undefined) count(v, 'runs', where);
}

function errorInfo(v: unknown, where: string): void {
  if (!isPlainObject(v)) throw bad(where, 'must be a plain object');
  str(v, 'name', where);
  str(v, 'code', where);
  str(v, 'message', where);
  if (v.details !== undefined) plainArgs(v.details, `${where}.details`);
}

/**
 * Why `args` could not travel in a message (`'args.when: only plain objects are allowed
 * (no class instances)'`), or undefined when it can: for checking what a job left in its
 * args before a feedback is built from them.
 */
export function argsProblem(args: unknown): string | undefined {
  if (!isPlainObject(args)) return 'args must be a plain object';
  const err = checkTree(args);
  if (err === undefined) return undefined;
  if (err.tooDeep) {
    const cycle = cyclePath(args, 'args', new Set(), new Set());
    if (cycle !== undefined)
      return `${cycle} refers back to an object that contains it (a cycle): args must be a tree of plain data`;
  }
  return `args${err.path} ${err.why}`;
}

/**
 * The path of the first value that refers back to one of its containers, if any (error
 * path only). Linear in the containers: `done` holds those whose every path was walked
 * without a cycle, so shared ones are walked once; paths end at the depth cap.
 */
function cyclePath(
  v: unknown,
  path: string,
  open: Set<object>,
  done: Set<object>,
  depth = 1,
): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  if (open.has(v)) return path;
  if (done.has(v) || depth > MAX_ARGS_DEPTH + 1) return undefined;
  open.add(v);
  const entries = Array.isArray(v)
    ? v.map((x, i) => [`[${i}]`, x] as const)
    : Object.entries(v).map(([k, x]) => [`.${safeKey(k)}`, x] as const);
  for (const [step, x] of entries) {
    const found = cyclePath(x, path + step, open, done, depth + 1);
    if (found !== undefined) return found;
  }
  open.delete(v);
  done.add(v);
  return undefined;
}

/**
 * A plain object of plain data (the root of args/details). `where + field` names it in an
 * error; the two are joined only then, not once per job.
 */
function plainArgs(v: unknown, where: string, field = ''): void {
  if (!isPlainObject(v)) throw bad(where + field, 'must be a plain object');
  const err = checkTree(v);
  if (err !== undefined) throw bad(where + field + err.path, err.why);
}

interface DataError {
  path: string;
  why: string;
  /** The depth cap was hit: a cycle, most likely (its path is cut at the first repeat). */
  tooDeep?: true;
}

/** Returns undefined when `v` is plain data; the path is built only on the way out of a failure. */
/** Why an object is not plain data, and what to send instead. */
function notPlainWhy(v: object): string {
  if (v instanceof Date) {
    return 'is a Date, which is not plain data: send epoch ms (date.getTime()) or an ISO string (date.toISOString())';
  }
  if (v instanceof Map) return 'is a Map: send a plain object (Object.fromEntries(map))';
  if (v instanceof Set) return 'is a Set: send an array ([...set])';
  const ctor = (v as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof ctor === 'string' && ctor !== '' ? `a ${ctor} instance` : 'a class instance';
  return `is ${what}: only plain objects, arrays, strings, numbers, booleans and null are sent (send its fields as a plain object)`;
}

/**
 * Objects and arrays checked before shared ones are looked for. Plain data is a tree; a
 * graph that reuses objects (`x = { a: x, b: x }`, 30 levels) has a billion paths, which
 * the walk (and msgpack after it) would follow one by one. Past this many, each object
 * must be new, so any graph is refused after a bounded walk; small ones still pass.
 */
export const SHARED_CHECK_AFTER = 10_000;
let containers = 0;
let met: Set<object> | undefined;

/** checkData from a root, with the count of objects and arrays met starting at 0. */
function checkTree(v: unknown): DataError | undefined {
  containers = 0;
  try {
    return checkData(v, 1);
  } finally {
    met = undefined;
  }
}

function checkData(v: unknown, depth: number): DataError | undefined {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      return { path: '', why: `is a ${typeof v}, which is not plain data` };
  }
  if (v === null || v instanceof Uint8Array) return undefined;
  if (depth > MAX_ARGS_DEPTH) {
    return { path: '', why: `is nested deeper than ${MAX_ARGS_DEPTH} levels`, tooDeep: true };
  }
  if (++containers > SHARED_CHECK_AFTER) {
    met ??= new Set();
    if (met.has(v)) {
      return {
        path: '',
        why: `is an object met before: past ${SHARED_CHECK_AFTER} objects and arrays, data must be a tree (no object in two places)`,
      };
    }
    met.add(v);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const err = checkData(v[i], depth + 1);
      if (err !== undefined) return { ...err, path: `[${i}]${err.path}` };
    }
    return undefined;
  }
  if (!isPlainObject(v)) return { path: '', why: notPlainWhy(v) };
  // for-in with an own-key check: Object.keys' keys and order, without an array per object.
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      return { path: '', why: `forbidden key "${key}"` };
    }
    const err = checkData(v[key], depth + 1);
    if (err !== undefined) return { ...err, path: `.${safeKey(key)}${err.path}` };
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function str(o: Obj, key: string, where: string): void {
  if (typeof o[key] !== 'string') throw bad(`${where}.${key}`, 'must be a string');
}

function nonEmpty(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw bad(`${where}.${key}`, 'must be a non-empty string');
}

function bool(o: Obj, key: string, where: string): void {
  if (typeof o[key] !== 'boolean') throw bad(`${where}.${key}`, 'must be a boolean');
}

function int(o: Obj, key: string, where: string): void {
  if (!Number.isSafeInteger(o[key])) throw bad(`${where}.${key}`, 'must be an integer');
}

/** A non-negative safe integer. */
function count(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (!Number.isSafeInteger(v) || (v as number) < 0) {
    throw bad(`${where}.${key}`, 'must be a non-negative integer');
  }
}

/** Smallest frame limit a peer may announce: below it not even a small batch would fit. */
export const MIN_PEER_FRAME = 1024;

function frameLimit(o: Obj, where: string): void {
  const v = o.maxFrame;
  if (!Number.isSafeInteger(v) || (v as number) < MIN_PEER_FRAME) {
    throw bad(`${where}.maxFrame`, `must be an integer ≥ ${MIN_PEER_FRAME}`);
  }
}

function finite(o: Obj, key: string, where: string): void {
  if (!Number.isFinite(o[key])) throw bad(`${where}.${key}`, 'must be a finite number');
}

function nonNegative(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (!Number.isFinite(v) || (v as number) < 0) {
    throw bad(`${where}.${key}`, 'must be a finite number ≥ 0');
  }
}

function positive(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (!Number.isFinite(v) || (v as number) <= 0) {
    throw bad(`${where}.${key}`, 'must be a finite number > 0');
  }
}

function strArray(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (!Array.isArray(v)) throw bad(`${where}.${key}`, 'must be an array of strings');
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') throw bad(`${where}.${key}[${i}]`, 'must be a string');
  }
}

function bad(field: string, why: string): ProtocolError {
  return new ProtocolError(`invalid message: ${field} ${why}`);
}

/** Peer-controlled text going into an error message: quoted and cut short. */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return v === null ? 'null' : typeof v;
}

function safeKey(key: string): string {
  return /^[A-Za-z_$][\w$]{0,39}$/.test(key) ? key : describe(key);
}
