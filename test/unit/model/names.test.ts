import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { assertJobName, assertNodeName } from '../../../src/model/names.ts';

describe('names', () => {
  it('names - job names: the safe alphabet, 1-200 characters; a name that passed once passes again, and a bad one after it still throws', () => {
    expect(() => assertJobName('mail.send_v2-x')).not.toThrow();
    expect(() => assertJobName('mail.send_v2-x')).not.toThrow(); // the repeat (see lastJobName)
    for (const bad of ['', 'a b', 'a:b', 'x'.repeat(201), 42, undefined, null, {}]) {
      expect(() => assertJobName(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => assertJobName('x'.repeat(200))).not.toThrow();
    expect(() => assertJobName('')).toThrow(InvalidArgumentError);
  });

  it('names - node names: the safe alphabet, 1-128 characters', () => {
    expect(() => assertNodeName('worker_1.eu-west')).not.toThrow();
    for (const bad of ['', 'a*b', '{x}', 'x'.repeat(129), 7]) {
      expect(() => assertNodeName(bad)).toThrow(InvalidArgumentError);
    }
  });
});
