import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const BENCHMARKS_FILE = join(resolve(import.meta.dir, "../../.."), "BENCHMARKS.md");

/**
 * `document` with the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` replaced by `body`, or
 * with the marked section appended when there is none yet. Each bench script owns one such section.
 */
export function replaceMarkedSection(document: string, name: string, body: string): string {
  const [startMark, endMark] = [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`];
  const section = `${startMark}\n${body.trimEnd()}\n${endMark}`;
  const start = document.indexOf(startMark);
  const end = document.indexOf(endMark);
  if (start === -1 || end < start) return `${document.trimEnd()}\n\n${section}\n`;
  return document.slice(0, start) + section + document.slice(end + endMark.length);
}

/** Writes `body` into BENCHMARKS.md as the section NAME (replaceMarkedSection). */
export function writeMarkedSection(name: string, body: string): void {
  writeFileSync(BENCHMARKS_FILE, replaceMarkedSection(readFileSync(BENCHMARKS_FILE, "utf8"), name, body));
}
