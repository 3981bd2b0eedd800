import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../../errors.ts';
import type { Logger } from '../../model/logger.ts';
import { otherCopies, type JobRegistry } from './job-registry.ts';

const JOB_FILE = /\.(?:m?js|m?ts)$/;
const DECLARATION_FILE = /\.d\.m?ts$/;
const TS_FILE = /\.m?ts$/;

/**
 * Whether this process was already given a TypeScript loader by us. Module-level on
 * purpose: registering tsx is process-wide and must happen at most once.
 */
let tsxRegistered = false;

/**
 * Imports every job file under `dir` (recursively): `.js`, `.mjs`, `.ts` and `.mts`,
 * skipping declaration files, dotfiles, dot-directories and `node_modules`. Files are
 * imported one by one in a stable order (sorted by relative path, code-unit order), so
 * `job()` calls in them register into the default registry deterministically. For `.ts`
 * files, a tsx loader is registered first unless the process can already import them.
 *
 * A module is evaluated once per process: loading the same directory again imports
 * nothing new (and so never trips DuplicateJobError).
 *
 * @returns the absolute paths of the loaded files, in load order.
 * @throws InvalidArgumentError when `dir` is not a readable directory, or when a file
 *   throws on import (the message names the file; `cause` is the original error).
 */
export async function loadJobDirectory(dir: string): Promise<string[]> {
  const root = resolve(dir);
  const info = await stat(root).catch((err: unknown) => {
    throw new InvalidArgumentError(`job directory ${root} cannot be read`, { cause: err });
  });
  if (!info.isDirectory())
    throw new InvalidArgumentError(`job directory ${root} is not a directory`);

  const files = await findJobFiles(root);
  const tsFiles = files.filter((file) => TS_FILE.test(file));
  if (tsFiles.length > 0) await ensureTypeScriptLoader(root, tsFiles);

  for (const file of files) {
    try {
      await import(pathToFileURL(file).href);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InvalidArgumentError(`job file ${file} failed to load: ${reason}`, {
        cause: err,
      });
    }
  }
  return files;
}

async function findJobFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  // Real paths of directories already walked: a symlink loop must not recurse forever.
  const seen = new Set<string>();

  async function walk(dir: string): Promise<void> {
    const real = await realpath(dir);
    if (seen.has(real)) return;
    seen.add(real);
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new InvalidArgumentError(`job directory ${dir} cannot be read`, { cause: err });
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(path).catch(() => undefined); // dangling links are skipped
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) await walk(path);
      else if (isFile && JOB_FILE.test(entry.name) && !DECLARATION_FILE.test(entry.name)) {
        found.push(path);
      }
    }
  }

  await walk(root);
  const key = (file: string): string => relative(root, file);
  return found.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Makes `.ts` imports work. Nothing to do when this very module runs as TypeScript
 * (tsx, vitest or Node's type stripping loaded it), when Node strips types natively, or
 * when the process was started with a TypeScript loader; otherwise tsx is registered once.
 */
async function ensureTypeScriptLoader(root: string, tsFiles: readonly string[]): Promise<void> {
  if (tsxRegistered || canImportTypeScript()) return;
  let api: { register(): unknown };
  try {
    // An optional peer dependency: only applications with TypeScript job files need it.
    api = await import('tsx/esm/api');
  } catch (err) {
    const some = tsFiles
      .slice(0, 3)
      .map((f) => relative(root, f))
      .join(', ');
    throw new InvalidArgumentError(
      `job directory ${root} holds TypeScript job files (${some}${tsFiles.length > 3 ? ', …' : ''}) and the package tsx is not installed: run \`npm install tsx\` (an optional peer dependency of job-reactor), or compile the job files to .js`,
      { cause: err },
    );
  }
  api.register();
  tsxRegistered = true;
}

function canImportTypeScript(): boolean {
  if (/\.m?ts$/.test(new URL(import.meta.url).pathname)) return true;
  const features = process.features as { typescript?: unknown };
  if (features.typescript !== undefined && features.typescript !== false) return true;
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  return /\btsx\b|ts-node|--experimental-(?:strip|transform)-types/.test(flags);
}

/**
 * A node's job directory: loads it, and says so when it gives the node nothing to run (no
 * job file, files that define no job, or files that define theirs with another copy of
 * job-reactor, whose registry the node never reads) instead of starting with no jobs in
 * silence; otherwise logs what it loaded.
 */
export async function loadJobDirectoryFor(
  dir: string,
  registry: JobRegistry,
  log: Logger,
): Promise<void> {
  const before = registry.names().length;
  const othersBefore = new Map(otherCopies().map((c) => [c.url, c.jobs]));
  const files = await loadJobDirectory(dir);
  const defined = registry.names().length - before;
  const elsewhere = otherCopies().filter((c) => c.jobs > (othersBefore.get(c.url) ?? 0));
  for (const copy of elsewhere) {
    log.warn(
      { jobDirectory: dir, copy: copy.url },
      `job files in ${dir} define their jobs with another copy of job-reactor (${copy.url}): this node never sees them. Import job() from the job-reactor the node runs (one install, no bundled copy)`,
    );
  }
  if (defined === 0 && registry.names().length === 0) {
    log.warn(
      { jobDirectory: dir, files: files.length },
      files.length === 0
        ? `job directory ${dir} has no .js or .ts job file: this node can run no job`
        : `job files in ${dir} (${files.length}) define no job: this node can run no job (each file calls job('name', handler))`,
    );
  } else {
    log.info({ jobDirectory: dir, files: files.length, jobs: registry.names() }, 'jobs loaded');
  }
}
