import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { loadJobDirectory } from '../../../src/node/definitions/job-loader.ts';
import { defaultRegistry } from '../../../src/node/definitions/job-registry.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/job-loader/', import.meta.url));
const temps: string[] = [];

afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

describe('job loader', () => {
  it('job loader - loads nested .ts, .js and .mts files in sorted order', async () => {
    const dir = join(fixtures, 'good');
    const files = await loadJobDirectory(dir);
    expect(files).toEqual([
      resolve(dir, 'alpha.ts'),
      resolve(dir, 'nested/beta.js'),
      resolve(dir, 'nested/deeper/gamma.mts'),
    ]);
    for (const name of ['loader_fixture_alpha', 'loader_fixture_beta', 'loader_fixture_gamma']) {
      expect(defaultRegistry.has(name)).toBe(true);
    }
    expect(defaultRegistry.get('loader_fixture_alpha')?.callbacks).toHaveLength(1);
    expect(defaultRegistry.get('loader_fixture_beta')?.errbacks).toHaveLength(1);
    expect(defaultRegistry.get('loader_fixture_gamma')?.options).toEqual({ timeoutMs: 1_000 });
  });

  it('job loader - loading the same directory again registers nothing twice', async () => {
    const dir = join(fixtures, 'good');
    await loadJobDirectory(dir);
    await expect(loadJobDirectory(dir)).resolves.toHaveLength(3);
  });

  it('job loader - skips dotfiles, dot-directories, node_modules and non-job files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jr-loader-'));
    temps.push(dir);
    const boom = "throw new Error('must not be loaded');\n";
    await mkdir(join(dir, '.hidden'));
    await mkdir(join(dir, 'node_modules', 'pkg'), { recursive: true });
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, '.hidden', 'job.mjs'), boom);
    await writeFile(join(dir, 'node_modules', 'pkg', 'index.js'), boom);
    await writeFile(join(dir, '.dotfile.mjs'), boom);
    await writeFile(join(dir, 'notes.md'), boom);
    await writeFile(join(dir, 'data.json'), '{}');
    await writeFile(join(dir, 'sub', 'b.mjs'), 'export const b = 1;\n');
    await writeFile(join(dir, 'a.mjs'), 'export const a = 1;\n');
    await writeFile(join(dir, 'Z.mjs'), 'export const z = 1;\n');
    expect(await loadJobDirectory(dir)).toEqual([
      join(dir, 'Z.mjs'),
      join(dir, 'a.mjs'),
      join(dir, 'sub', 'b.mjs'),
    ]);
  });

  it('job loader - an empty directory loads nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jr-loader-empty-'));
    temps.push(dir);
    expect(await loadJobDirectory(dir)).toEqual([]);
  });

  it('job loader - a missing directory is an InvalidArgumentError naming it', async () => {
    const missing = join(fixtures, 'does-not-exist');
    const err = await loadJobDirectory(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(missing);
  });

  it('job loader - a file instead of a directory is an InvalidArgumentError', async () => {
    const file = join(fixtures, 'good', 'alpha.ts');
    await expect(loadJobDirectory(file)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('job loader - a file that throws on import is an InvalidArgumentError naming it', async () => {
    const dir = join(fixtures, 'broken');
    const err = await loadJobDirectory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(join(dir, 'exploding.ts'));
    expect((err as Error).message).toContain('fixture exploded on import');
    expect((err as Error).cause).toBeInstanceOf(TypeError);
  });
});
