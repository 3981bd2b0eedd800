import { describe, expect, it } from 'vitest';
import {
  cleanTraceCarrier,
  MAX_TRACE_ENTRIES,
  MAX_TRACE_KEY,
  MAX_TRACE_VALUE,
} from '../../../src/protocol/trace-carrier.ts';
import { validateMessage } from '../../../src/protocol/validate.ts';
import { jobTuple } from '../../../src/protocol/wire-forms.ts';
import { wireJob } from './sample-messages.ts';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('trace carrier', () => {
  it('trace carrier - a W3C carrier is kept as is, in a fresh object', () => {
    const c = { traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' };
    const out = cleanTraceCarrier(c);
    expect(out).toStrictEqual(c);
    expect(out).not.toBe(c);
  });

  it('trace carrier - anything but a plain object of strings is nothing', () => {
    for (const v of [
      undefined,
      null,
      42,
      'traceparent',
      [TRACEPARENT],
      new Map(),
      new Date(),
      {},
    ]) {
      expect(cleanTraceCarrier(v)).toBeUndefined();
    }
    expect(cleanTraceCarrier({ traceparent: 7, tracestate: { a: 1 } })).toBeUndefined();
    expect(cleanTraceCarrier(Object.assign(Object.create(null), { a: 'b' }))).toEqual({ a: 'b' });
  });

  it('trace carrier - entries out of bounds are dropped, the rest kept', () => {
    const out = cleanTraceCarrier({
      traceparent: TRACEPARENT,
      long: 'x'.repeat(MAX_TRACE_VALUE + 1),
      ['k'.repeat(MAX_TRACE_KEY + 1)]: 'v',
      'bad key': 'v',
      '-dash-first': 'v',
      __proto__x: 'v',
      num: 1,
      edge: 'y'.repeat(MAX_TRACE_VALUE),
    });
    expect(Object.keys(out!)).toEqual(['traceparent', 'edge']);
  });

  it('trace carrier - at most MAX_TRACE_ENTRIES kept, and a map of many keys is cut short', () => {
    const many = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(cleanTraceCarrier(many)!)).toHaveLength(MAX_TRACE_ENTRIES);
    // Only the first few keys are looked at: a carrier of junk then a good entry is nothing.
    const junk = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    expect(cleanTraceCarrier({ ...junk, traceparent: TRACEPARENT })).toBeUndefined();
  });

  it('trace carrier - on the wire: a bad one is mended or dropped, never a ProtocolError', () => {
    const read = (trace: unknown) => {
      const tuple = jobTuple({ ...wireJob, trace: trace as Record<string, string> });
      const m = validateMessage({ t: 'jobs', j: [tuple] });
      if (m.t !== 'jobs') throw new Error('not a jobs message');
      return m.jobs[0]!;
    };
    expect(read({ traceparent: TRACEPARENT }).trace).toEqual({ traceparent: TRACEPARENT });
    expect(read(42)).not.toHaveProperty('trace');
    expect(read({ traceparent: 'x'.repeat(100_000) })).not.toHaveProperty('trace');
    expect(read({ traceparent: TRACEPARENT, x: 1 }).trace).toEqual({ traceparent: TRACEPARENT });
  });
});
