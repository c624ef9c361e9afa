import pkg from "../package.json";

/** Set by scripts/build.ts (`--define`): the commit the binary was built from. */
declare const BUILD_REVISION: string | undefined;

export const VERSION: string = pkg.version;
export const PROGRAM = "classmatefinder-backend";

/**
 * The commit of a git checkout: 12 hex digits, `-dirty` when tracked files differ from it; "unknown"
 * outside a checkout. Two builds of one version are told apart by it.
 */
export function gitRevision(directory: string): string {
  const git = (...args: string[]) => Bun.spawnSync(["git", "-C", directory, ...args], { stderr: "ignore" });
  const head = git("rev-parse", "--short=12", "HEAD");
  if (head.exitCode !== 0) return "unknown";
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.length > 0;
  return `${head.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}

/** This build's commit: baked into the binary, or asked of git once when run from a checkout. */
export const REVISION: string = typeof BUILD_REVISION === "string" ? BUILD_REVISION : gitRevision(import.meta.dir);
