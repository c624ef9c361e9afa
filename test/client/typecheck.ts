import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const REPO = resolve(import.meta.dir, "../..");
const TSC = join(REPO, "node_modules/.bin/tsc");

/**
 * The tsconfig that docs/integration.md recommends to the frontend (Vite's defaults, minus
 * erasableSyntaxOnly), with the client under the import name the guide uses.
 */
export const FRONTEND_COMPILER_OPTIONS = {
  target: "ES2022",
  module: "ESNext",
  moduleResolution: "bundler",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  moduleDetection: "force",
  noUnusedLocals: true,
  noUnusedParameters: true,
  noFallthroughCasesInSwitch: true,
  types: [join(REPO, "node_modules/bun-types")],
  paths: { "@classmatefinder/api": [join(REPO, "src/client.ts")] },
};

export interface Diagnostic {
  /** Relative to the temporary project for its own files; `../…/src/x.ts` for anything else. */
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

/**
 * Runs `tsc --noEmit` on a temporary project (outside the repository, so the root tsconfig never sees it)
 * holding `sources` (file name → text) and the existing `files` (absolute paths).
 */
export async function typecheck(sources: Record<string, string>, files: string[] = []): Promise<TypecheckResult> {
  const dir = await mkdtemp(join(tmpdir(), "cmf-client-types-"));
  try {
    for (const [name, text] of Object.entries(sources)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    const tsconfig = { compilerOptions: FRONTEND_COMPILER_OPTIONS, files: [...Object.keys(sources), ...files] };
    await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const proc = Bun.spawn([TSC, "--project", join(dir, "tsconfig.json"), "--pretty", "false"], {
      cwd: dir,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const output = stdout + stderr;
    const diagnostics = [...output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map((match) => ({
      file: match[1] as string,
      line: Number(match[2]),
      code: match[3] as string,
      message: match[4] as string,
    }));
    return { exitCode, diagnostics, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
