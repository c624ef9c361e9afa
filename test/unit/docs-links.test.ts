import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

// Every relative link of the README and docs/ leads somewhere: the file exists and, for a link into a
// Markdown file, the anchor is one of its headings as GitHub names them. The README links into docs/
// by reader, and docs/ pages link into each other by section, so a renamed heading breaks a link.
const REPO = resolve(import.meta.dir, "../..");
const FILES = [
  "README.md",
  "BENCHMARKS.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The lines of a Markdown text outside fenced code blocks (a `# comment` in a shell block is no heading). */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      continue;
    }
    if (fence === null) lines.push(line);
  }
  return lines;
}

/** GitHub's heading anchors: the text as shown, lower-cased, punctuation dropped, spaces as hyphens; repeats get -1, -2 … */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const shown = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const base = shown
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The targets of inline links that stay in the repository (no scheme), outside code. */
function relativeLinks(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/(`+)[\s\S]*?\1/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1] as string;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) targets.push(target);
    }
  }
  return targets;
}

function brokenLinks(file: string): string[] {
  const text = readText(file);
  const broken: string[] = [];
  for (const target of relativeLinks(text)) {
    const [path = "", anchor] = target.split("#", 2);
    const destination = path === "" ? join(REPO, file) : resolve(dirname(join(REPO, file)), decodeURIComponent(path));
    if (!existsSync(destination)) {
      broken.push(`${file}: ${target} (no file ${relative(REPO, destination)})`);
    } else if (anchor !== undefined && destination.endsWith(".md") && !headingAnchors(readText(relative(REPO, destination))).has(anchor)) {
      broken.push(`${file}: ${target} (no heading #${anchor} in ${relative(REPO, destination)})`);
    }
  }
  return broken;
}

const texts = new Map<string, string>();
function readText(file: string): string {
  const text = texts.get(file) ?? readFileSync(join(REPO, file), "utf8");
  texts.set(file, text);
  return text;
}

describe("documentation links", () => {
  test("anchors are named as GitHub names them", () => {
    const anchors = headingAnchors(
      [
        "# Title",
        "## Upgrade: the canary (rehearsed)",
        "## Email: from the mock to a real provider",
        "```sh",
        "# On the build machine",
        "```",
        "### The `users` commands — one [student](x.md)",
        "## Title",
      ].join("\n"),
    );
    expect([...anchors]).toEqual([
      "title",
      "upgrade-the-canary-rehearsed",
      "email-from-the-mock-to-a-real-provider",
      "the-users-commands--one-student",
      "title-1",
    ]);
  });

  test("links in code are not links; links with a scheme are not checked", () => {
    expect(relativeLinks("[a](docs/a.md#x) `[b](b.md)` [c](https://example.com) <http://x>\n```\n[d](d.md)\n```\n[e](#y)")).toEqual([
      "docs/a.md#x",
      "#y",
    ]);
  });

  test.each(FILES)("every relative link of %s resolves to a file and a heading", (file) => {
    expect(brokenLinks(file)).toEqual([]);
  });

  test("the README leads every reader to a page of docs/", () => {
    const targets = relativeLinks(readText("README.md"));
    for (const page of [
      "integration.md",
      "api.md",
      "operations.md",
      "configuration.md",
      "monitoring.md",
      "support.md",
      "development.md",
      "security.md",
    ]) {
      expect(targets.some((target) => target.startsWith(`docs/${page}`))).toBe(true);
    }
  });

  test("the frontend guide's entry point, docs/integration.md, leads to each of its parts (docs/integration-*.md)", () => {
    const parts = readdirSync(join(REPO, "docs")).filter((name) => /^integration-.+\.md$/.test(name));
    expect(parts.length).toBeGreaterThan(0);
    const targets = relativeLinks(readText("docs/integration.md"));
    expect(parts.filter((part) => !targets.some((target) => target.split("#")[0] === part))).toEqual([]);
  });
});
