#!/usr/bin/env node
// Launcher: runs the compiled CLI when the package is built (dist/), otherwise the
// TypeScript sources through tsx, so a fresh clone works without a build step.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/cli/main.js`;
if (existsSync(built) && !process.env.JR_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(`${root}src/cli/main.ts`).href);
}
