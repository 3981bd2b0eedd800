import { describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  logExcerpt,
  MAX_ERROR_MESSAGE,
  StorageError,
  toErrorInfo,
} from '../../../src/errors.ts';
import type { Feedback } from '../../../src/model/job.ts';
import { encodeFeedbackItem } from '../../../src/protocol/batch-frames.ts';
import { DEFAULT_MAX_FRAME_SIZE } from '../../../src/protocol/codec.ts';

/** What a job may throw: every one must become an ErrorInfo a feedback can carry. */
const thrown: [string, () => unknown][] = [
  ['an Error', () => new TypeError('bad input')],
  ['a string', () => 'plain text'],
  ['a number', () => 42],
  ['null', () => null],
  ['a symbol', () => Symbol('s')],
  ['an object with no prototype', () => Object.create(null) as object],
  [
    'an object that cannot be printed',
    () => ({
      toJSON() {
        throw new Error('j');
      },
      toString() {
        throw new Error('s');
      },
    }),
  ],
  [
    'an Error with a number for a name and an object for a message',
    () => {
      const e = new Error('x');
      Object.defineProperty(e, 'name', { value: 42 });
      Object.defineProperty(e, 'message', { value: { a: 1 } });
      return e;
    },
  ],
  [
    'an Error whose message getter throws',
    () => {
      const e = new Error('x');
      Object.defineProperty(e, 'message', {
        get() {
          throw new Error('boom');
        },
      });
      return e;
    },
  ],
  ['an Error of 10 MB', () => new Error('y'.repeat(10 * 1024 * 1024))],
  [
    'an Error with a huge code',
    () => Object.assign(new Error('x'), { code: 'C'.repeat(1_000_000) }),
  ],
];

describe('toErrorInfo', () => {
  it.each(thrown)(
    'toErrorInfo - %s: strings within their bounds, valid in a feedback',
    (_, make) => {
      const info = toErrorInfo(make());
      for (const field of [info.name, info.code, info.message]) expect(typeof field).toBe('string');
      expect(info.name.length + info.code.length).toBeLessThan(1024);
      expect(info.message.length).toBeLessThan(MAX_ERROR_MESSAGE + 100);
      // A feedback carrying it passes the checks and fits a frame (it once failed as too large).
      const fb: Feedback = {
        key: 'k',
        jobId: 'k',
        distributor: 'd',
        node: 'n',
        outcome: 'error',
        final: true,
        args: {},
        error: info,
        attempt: 1,
      };
      expect(encodeFeedbackItem(fb, DEFAULT_MAX_FRAME_SIZE).length).toBeGreaterThan(0);
    },
  );

  it('toErrorInfo - keeps what fits, cuts what does not, and says how much', () => {
    expect(toErrorInfo(new TypeError('bad input'))).toEqual({
      name: 'TypeError',
      code: ErrorCodes.JobThrew,
      message: 'bad input',
    });
    expect(toErrorInfo(new StorageError('gone'))).toMatchObject({
      code: 'JR_ERR_STORAGE',
      message: 'gone',
    });
    const long = toErrorInfo(new Error('y'.repeat(MAX_ERROR_MESSAGE + 10)));
    expect(long.message).toBe(`${'y'.repeat(MAX_ERROR_MESSAGE)}… (10 more characters cut)`);
    expect(toErrorInfo(42).message).toBe('42');
    // A node's log line shows the first 500 characters of a job's message.
    expect(logExcerpt('z'.repeat(600))).toBe(`${'z'.repeat(500)}… (100 more characters cut)`);
    expect(logExcerpt('short')).toBe('short');
    expect(toErrorInfo(Symbol('s')).message).toBe('Symbol(s)');
  });
});
