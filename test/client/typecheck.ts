import { rmSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { buildClient } from "../../packages/client/scripts/build";

export const REPO = resolve(import.meta.dir, "../..");
const TSC = join(REPO, "node_modules/.bin/tsc");

/**
 * A frontend's tsconfig as Vite's react-ts template generates it, plus the strictest options a team
 * adds, and no `bun-types`: the client package must need nothing of the backend. `skipLibCheck` is off
 * here (Vite turns it on) so that the package's own declarations are checked under these options too.
 */
export const FRONTEND_COMPILER_OPTIONS = {
  target: "ES2023",
  lib: ["ES2023", "DOM"],
  module: "ESNext",
  types: [],
  skipLibCheck: false,
  moduleResolution: "bundler",
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  moduleDetection: "force",
  noEmit: true,
  strict: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  erasableSyntaxOnly: true,
  noFallthroughCasesInSwitch: true,
  noUncheckedSideEffectImports: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noPropertyAccessFromIndexSignature: true,
};

/**
 * A Node back-end's tsconfig as `tsc --init` (TypeScript 7) writes it, without what only concerns emit,
 * and with `skipLibCheck` off: `module` is what differs from one project to the next (see types.test.ts).
 */
export const NODE_COMPILER_OPTIONS = {
  module: "nodenext",
  target: "esnext",
  types: [],
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  strict: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: "force",
  skipLibCheck: false,
  noEmit: true,
};

let built: Promise<string> | undefined;
/** The package as `bun run pack:client` builds it (once per test process), in a scratch directory. */
export function builtPackage(): Promise<string> {
  built ??= mkdtemp(join(tmpdir(), "cmf-client-pkg-")).then(async (dir) => {
    await buildClient(join(dir, "dist"));
    await cp(join(REPO, "packages/client/package.json"), join(dir, "package.json"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  return built;
}

export interface Diagnostic {
  /** Relative to the temporary project for its own files. */
  file: string;
  line: number;
  code: string;
  message: string;
}

export interface TypecheckResult {
  exitCode: number;
  diagnostics: Diagnostic[];
  output: string;
}

export interface Project {
  /** Default: FRONTEND_COMPILER_OPTIONS. */
  compilerOptions?: Record<string, unknown>;
  /** The project's package.json `type` (how Node and TypeScript read its .ts files); none by default. */
  type?: "module" | "commonjs";
}

/**
 * Runs `tsc --noEmit` on a temporary frontend project (outside the repository) holding `sources` (file
 * name → text) and the existing `files` (absolute paths), with the built package installed in its
 * node_modules as `@classmatefinder/api`.
 */
export async function typecheck(sources: Record<string, string>, files: string[] = [], project: Project = {}): Promise<TypecheckResult> {
  const pkg = await builtPackage();
  const dir = await mkdtemp(join(tmpdir(), "cmf-client-types-"));
  try {
    await cp(pkg, join(dir, "node_modules/@classmatefinder/api"), { recursive: true });
    for (const [name, text] of Object.entries(sources)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    const tsconfig = { compilerOptions: project.compilerOptions ?? FRONTEND_COMPILER_OPTIONS, files: [...Object.keys(sources), ...files] };
    await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    if (project.type) await writeFile(join(dir, "package.json"), JSON.stringify({ private: true, type: project.type }));
    return await runTsc(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runTsc(dir: string): Promise<TypecheckResult> {
  const proc = Bun.spawn([TSC, "--project", join(dir, "tsconfig.json"), "--pretty", "false"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const output = stdout + stderr;
  const diagnostics = [...output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map((match) => ({
    file: match[1] as string,
    line: Number(match[2]),
    code: match[3] as string,
    message: match[4] as string,
  }));
  return { exitCode, diagnostics, output };
}
