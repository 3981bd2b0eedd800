import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file the dashboard is made of. */
interface Asset {
  path: string;
  type: string;
}

const require = createRequire(import.meta.url);
/** The package's own `dashboard/` folder: two levels up from src/admin and from dist/admin. */
const OWN = fileURLToPath(new URL('../../dashboard/', import.meta.url));

/**
 * The front-end libraries, served from their installed packages (dependencies of this
 * one, so they are on disk wherever job-reactor is): nothing is fetched from a CDN or at
 * run time. htm's standalone build carries preact and its hooks in one 13 kB module.
 */
function vendored(): Record<string, Asset> {
  const htm = dirname(require.resolve('htm'));
  const uplot = dirname(require.resolve('uplot'));
  return {
    '/vendor/htm-preact.js': {
      path: join(htm, '..', 'preact', 'standalone.module.js'),
      type: 'text/javascript',
    },
    '/vendor/uplot.js': { path: join(uplot, 'uPlot.esm.js'), type: 'text/javascript' },
    '/vendor/uplot.css': { path: join(uplot, 'uPlot.min.css'), type: 'text/css' },
  };
}

/** Every path the dashboard answers, and nothing else (no path is read from the URL). */
function assets(): Record<string, Asset> {
  return {
    '/': { path: join(OWN, 'index.html'), type: 'text/html' },
    '/app.js': { path: join(OWN, 'app.js'), type: 'text/javascript' },
    '/style.css': { path: join(OWN, 'style.css'), type: 'text/css' },
    ...vendored(),
  };
}

/** The dashboard's files, read once each and kept (they are a few hundred kB in all). */
export class DashboardAssets {
  #table: Record<string, Asset> | undefined;
  readonly #cache = new Map<string, Promise<{ body: Buffer; type: string }>>();

  has(path: string): boolean {
    return Object.hasOwn(this.#assets(), path);
  }

  /** The file at `path` (one of `has`); rejects when the installed files are missing. */
  get(path: string): Promise<{ body: Buffer; type: string }> {
    let hit = this.#cache.get(path);
    if (hit === undefined) {
      const asset = this.#assets()[path]!;
      hit = readFile(asset.path).then((body) => ({ body, type: asset.type }));
      // A failed read is tried again next time (a file restored by a reinstall).
      hit.catch(() => this.#cache.delete(path));
      this.#cache.set(path, hit);
    }
    return hit;
  }

  #assets(): Record<string, Asset> {
    return (this.#table ??= assets());
  }
}
