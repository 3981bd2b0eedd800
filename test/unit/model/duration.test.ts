import { describe, expect, it } from 'vitest';
import { ErrorCodes, InvalidArgumentError } from '../../../src/errors.ts';
import {
  MAX_DURATION_MS,
  MIN_PERIOD_MS,
  assertPeriodMs,
  parseDuration,
  parsePeriod,
  toEpochMs,
} from '../../../src/model/duration.ts';

function invalid(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe(ErrorCodes.InvalidArgument);
    return error as InvalidArgumentError;
  }
  throw new InvalidArgumentError('expected a throw');
}

describe('parseDuration', () => {
  const valid: [number | string, number][] = [
    [0, 0],
    [1, 1000],
    [0.25, 250],
    [1.5, 1500],
    [20, 20_000],
    [0.0004, 0],
    [0.29, 290],
    ['0', 0],
    ['10', 10_000],
    ['0.5', 500],
    ['.5', 500],
    ['250ms', 250],
    ['1.5ms', 2],
    ['1.5s', 1500],
    ['5s', 5000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5d', 129_600_000],
    [' 5 m ', 300_000],
    ['10 ms', 10],
  ];
  it.each(valid)('duration - %j is %d ms', (input, ms) => {
    expect(parseDuration(input, 'after')).toBe(ms);
  });

  const bad: unknown[] = [
    -1,
    -0.001,
    Number.NaN,
    Infinity,
    -Infinity,
    1e300,
    '',
    '   ',
    '-5s',
    '+5s',
    '5x',
    '5 seconds',
    'ms',
    '1e3',
    '1.2.3s',
    '5S',
    'NaN',
    'Infinity',
    '0x10',
    null,
    undefined,
    true,
    {},
    [],
    new Date(0),
  ];
  it.each(bad.map((v) => [v]))('duration - %j is rejected, naming the option', (input) => {
    const error = invalid(() => parseDuration(input as number, 'after'));
    expect(error.message).toContain('after');
  });

  it('duration - the message shows the bad value', () => {
    expect(invalid(() => parseDuration('5x', 'period')).message).toContain('"5x"');
    expect(invalid(() => parseDuration(-3, 'timeout')).message).toContain('-3');
  });

  it('duration - the largest accepted value is the Date range', () => {
    expect(parseDuration(MAX_DURATION_MS / 1000, 'after')).toBe(MAX_DURATION_MS);
    invalid(() => parseDuration(MAX_DURATION_MS / 1000 + 1, 'after'));
  });
});

describe('parsePeriod', () => {
  it('duration - periods at or above the minimum pass', () => {
    expect(MIN_PERIOD_MS).toBe(10);
    expect(parsePeriod('10ms')).toBe(10);
    expect(parsePeriod(0.01)).toBe(10);
    expect(parsePeriod(2)).toBe(2000);
  });

  it.each([[0], ['9ms'], [0.005], ['0s']])(
    'duration - period %j is below a sane minimum',
    (input) => {
      const error = invalid(() => parsePeriod(input));
      expect(error.message).toContain('period below a sane minimum');
    },
  );

  it('duration - assertPeriodMs checks ms from the wire', () => {
    expect(assertPeriodMs(1000)).toBe(1000);
    expect(invalid(() => assertPeriodMs(5)).message).toContain('below a sane minimum');
    invalid(() => assertPeriodMs(Number.NaN));
    invalid(() => assertPeriodMs('1000'));
    invalid(() => assertPeriodMs(-100));
  });
});

describe('toEpochMs', () => {
  it('duration - Dates and epoch ms', () => {
    expect(toEpochMs(new Date(Date.UTC(2026, 0, 1)), 'runAt')).toBe(Date.UTC(2026, 0, 1));
    expect(toEpochMs(1_767_225_600_000, 'runAt')).toBe(1_767_225_600_000);
    expect(toEpochMs(0, 'runAt')).toBe(0);
    expect(toEpochMs(1000.6, 'runAt')).toBe(1001);
  });

  it.each([
    [new Date(Number.NaN)],
    [new Date('garbage')],
    [Number.NaN],
    [Infinity],
    [-1],
    [new Date(-1000)],
    ['2026-01-01'],
    [null],
    [MAX_DURATION_MS + 1],
  ])('duration - runAt %j is rejected', (input) => {
    expect(invalid(() => toEpochMs(input as number, 'runAt')).message).toContain('runAt');
  });
});
