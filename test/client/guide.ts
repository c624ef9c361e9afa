import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { REPO } from "./typecheck";

/** The frontend guide's files: the entry point docs/integration.md, then its parts docs/integration-*.md by name. */
export async function guideFiles(): Promise<string[]> {
  const parts = (await readdir(join(REPO, "docs"))).filter((name) => /^integration-.+\.md$/.test(name)).sort();
  return ["integration.md", ...parts].map((name) => `docs/${name}`);
}

/** The whole frontend guide as one text: every file of `guideFiles()`, in that order. */
export async function readGuide(): Promise<string> {
  const texts = await Promise.all((await guideFiles()).map((file) => Bun.file(join(REPO, file)).text()));
  return texts.join("\n");
}
