/**
 * The trace context a job carries (its `trace` field): the text map an OpenTelemetry
 * propagator writes at enqueue (W3C `traceparent`, `tracestate`, maybe `baggage`) and
 * reads on the node. Tracing is best effort: a carrier that breaks these bounds is cut
 * down or dropped, never a reason to refuse a job or close a link.
 */
export type TraceCarrier = Record<string, string>;

/** Entries kept at most (a W3C context needs two; a few more for baggage or B3). */
export const MAX_TRACE_ENTRIES = 8;
/** Characters of a key at most (header names). */
export const MAX_TRACE_KEY = 64;
/** Characters of a value at most (`tracestate` is at most 512; baggage may be longer). */
export const MAX_TRACE_VALUE = 2048;
/** Keys looked at at most, kept or not: a hostile map of a million keys costs no more. */
const MAX_KEYS_SEEN = 4 * MAX_TRACE_ENTRIES;

/** A header-like name: letters, digits, `-`, `_`, `.`; starting with a letter or digit. */
const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The usable part of `value` as a carrier: a fresh object of its string entries within the
 * bounds (at most MAX_TRACE_ENTRIES, keys of at most MAX_TRACE_KEY header characters,
 * values of at most MAX_TRACE_VALUE characters); undefined when nothing is left (not a
 * plain object, empty, or no entry fits). Never throws.
 */
export function cleanTraceCarrier(value: unknown): TraceCarrier | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  let out: TraceCarrier | undefined;
  let kept = 0;
  let seen = 0;
  for (const key in value) {
    if (++seen > MAX_KEYS_SEEN || kept === MAX_TRACE_ENTRIES) break;
    if (!Object.hasOwn(value, key)) continue;
    const v = (value as Record<string, unknown>)[key];
    if (typeof v !== 'string' || v.length > MAX_TRACE_VALUE) continue;
    if (key.length > MAX_TRACE_KEY || !KEY.test(key)) continue;
    (out ??= {})[key] = v;
    kept++;
  }
  return out;
}
