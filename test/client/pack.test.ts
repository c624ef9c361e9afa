import { afterAll, expect, test } from "bun:test";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./typecheck";

/**
 * Issue 29, item 2: `npm pack` in packages/client made an empty 1.1 kB package (no dist/) that failed on
 * import; only `bun run pack:client` built it. Now the package's prepack builds it first, or npm pack
 * is refused with a message saying why. This test builds into packages/client/dist, as npm pack does.
 */
const PACKAGE = join(REPO, "packages/client");
const scratch = await mkdtemp(join(tmpdir(), "cmf-npm-pack-"));
afterAll(() => rm(scratch, { recursive: true, force: true }));

async function npmPack(env: Record<string, string | undefined> = process.env) {
  const proc = Bun.spawn(["npm", "pack", "--json", "--pack-destination", scratch], { cwd: PACKAGE, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, exitCode };
}

test("npm pack in packages/client, without a build: the package is built first, and its tarball imports", async () => {
  await rm(join(PACKAGE, "dist"), { recursive: true, force: true });
  const { stdout, stderr, exitCode } = await npmPack();
  expect({ exitCode, stderr: exitCode === 0 ? "" : stderr }).toEqual({ exitCode: 0, stderr: "" });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as [{ filename: string; files: { path: string; size: number }[] }];
  const files = Object.fromEntries(packed.files.map((file) => [file.path, file.size]));
  expect(Object.keys(files).sort()).toEqual([
    "README.md",
    "dist/index.d.ts",
    "dist/index.js",
    "dist/server-types.d.ts",
    "dist/types.d.ts",
    "package.json",
  ]);
  for (const path of Object.keys(files)) expect({ path, empty: files[path] === 0 }).toEqual({ path, empty: false });

  // The tarball as a project gets it: Node imports it and the client calls a server.
  const project = join(scratch, "project");
  const install = Bun.spawnSync(["tar", "-xzf", join(scratch, packed.filename), "-C", scratch]);
  expect(install.exitCode).toBe(0);
  await Bun.write(join(project, "package.json"), JSON.stringify({ type: "module" }));
  await Bun.$`mkdir -p ${join(project, "node_modules/@classmatefinder")} && mv ${join(scratch, "package")} ${join(project, "node_modules/@classmatefinder/api")}`;
  const script = `import { createClient } from "@classmatefinder/api";
const api = createClient("http://127.0.0.1:9", { fetcher: async (url) => Response.json({ status: "ok", url }) });
const { data } = await api.health.live.get();
console.log(JSON.stringify(data));`;
  await Bun.write(join(project, "main.mjs"), script);
  const node = Bun.spawnSync(["node", "main.mjs"], { cwd: project });
  expect(node.stderr.toString()).toBe("");
  expect(JSON.parse(node.stdout.toString())).toEqual({ status: "ok", url: "http://127.0.0.1:9/health/live" });
}, 120_000);

test("npm pack where the package cannot be built (no bun): refused, with a message, and no tarball", async () => {
  // node, npm and sh, but no bun on the PATH.
  const bin = join(scratch, "bin");
  await Bun.$`mkdir -p ${bin}`;
  for (const tool of ["node", "npm", "sh"]) await symlink(Bun.which(tool) as string, join(bin, tool));
  const before = await Array.fromAsync(new Bun.Glob("*.tgz").scan(scratch));
  await rm(join(scratch, before[0] ?? "none.tgz"), { force: true });
  const { stderr, exitCode } = await npmPack({ PATH: bin, HOME: process.env.HOME });
  expect(exitCode).not.toBe(0);
  expect(stderr).toContain("npm pack builds the package first");
  expect(await Array.fromAsync(new Bun.Glob("*.tgz").scan(scratch))).toEqual([]);
}, 60_000);
