/**
 * The runnable shell examples of the README's API sections.
 *
 * The rule (documented in the README, "OpenAPI and API docs"): in the part of README.md from
 * `## API (v1)` to the next `## ` heading, every ```sh block that uses or sets `$U` (the base
 * URL) is run, in order, as one bash script; no other block is. A ```sh block there that calls
 * curl without `$U` is an error, so that no example escapes the test by accident.
 */
import { readFileSync } from 'node:fs';

export const README = new URL('../../README.md', import.meta.url);

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
}

/** The ```sh blocks between `## API (v1)` and the next `## ` heading. */
export function apiShellBlocks(markdown = readFileSync(README, 'utf8')): ShellBlock[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith('## API'));
  if (start < 0) throw new Error('README.md has no "## API" section');
  const endOffset = lines.slice(start + 1).findIndex((l) => l.startsWith('## '));
  const end = endOffset < 0 ? lines.length : start + 1 + endOffset;
  const blocks: ShellBlock[] = [];
  for (let i = start; i < end; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const close = lines.findIndex((l, j) => j > i && l.trim() === '```');
    blocks.push({ line: i + 1, text: lines.slice(i + 1, close).join('\n') });
    i = close;
  }
  return blocks;
}

/** Whether a block is run: it uses or sets `$U`. */
export const isRunnable = (block: ShellBlock) => /\$U\b|(^|[\s;])U=/m.test(block.text);

export interface CurlCommand {
  /** The command as written (continuation lines joined). */
  text: string;
  /** `"key": "value"` pairs the trailing comment promises about the answer. */
  promises: { key: string; value: string }[];
}

/** The curl commands of some blocks, in order, with what their comments promise. */
export function curlCommands(blocks: ShellBlock[]): CurlCommand[] {
  const joined = blocks.map((b) => b.text.replace(/\\\n\s*/g, ' ')).join('\n');
  return joined
    .split('\n')
    .filter((l) => /^\s*curl\s/.test(l))
    .map((text) => {
      const comment = /\s#\s(.*)$/.exec(text)?.[1] ?? '';
      const promises = [...comment.matchAll(/"([^"]+)":\s*"([^"]+)"/g)].map((m) => ({
        key: m[1]!,
        value: m[2]!,
      }));
      return { text: text.trim(), promises };
    });
}

/**
 * The script that runs the blocks: `curl` is wrapped (a shell function, the commands are not
 * rewritten) to save each answer's status and body under `outDir` as `<n>.status`/`<n>.body`
 * (and still print the body, for pipes); the README's base URL is replaced by `baseUrl`, nothing
 * else.
 */
export function script(blocks: ShellBlock[], baseUrl: string, outDir: string): string {
  const body = blocks
    .map((b) => b.text.replace(/\bU=http:\/\/127\.0\.0\.1:3000\b/g, `U=${baseUrl}`))
    .join('\n');
  return [
    'set -euo pipefail',
    `__out=${JSON.stringify(outDir)}`,
    '__n=0',
    'curl() {',
    '  __n=$((__n + 1))',
    '  command curl -sS --max-time 20 -o "$__out/$__n.body" -w "%{http_code}" "$@" > "$__out/$__n.status"',
    '  cat "$__out/$__n.body"',
    '}',
    body,
    '',
  ].join('\n');
}
