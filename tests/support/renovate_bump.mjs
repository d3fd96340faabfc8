// One Renovate dependency bump in a local git repository, with Renovate's own code:
// the pep621 manager's extractPackageFile, autoReplace of the specifier, the manager's
// updateArtifacts (it runs `uv lock` itself), then the postUpgradeTasks commands of a
// renovate.json (allowedCommands checked, run by Renovate's exec), then git's changed files
// matched against fileFilters with Renovate's minimatch, as its post-upgrade executor does.
//
// usage: node renovate_bump.mjs <renovate dist folder> <request.json> <result.json>
// request: {repo, cacheDir, packageFile, depName, newValue, newVersion, renovateJson,
//           allowedCommands, filterPaths (paths to try against fileFilters)}
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [distDir, requestPath, resultPath] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(join(distDir, rel)).href);
const request = JSON.parse(readFileSync(requestPath, "utf8"));

const { GlobalConfig } = await load("config/global.js");
const pep621 = await load("modules/manager/pep621/index.js");
const { doAutoReplace } = await load("workers/repository/update/branch/auto-replace.js");
const { withGitEnvironment } = await load("util/git/exec.js");
const { minimatch } = await load("util/minimatch.js");
const { regEx } = await load("util/regex.js");

GlobalConfig.set({
  localDir: request.repo,
  cacheDir: request.cacheDir,
  binarySource: "global",
  allowedCommands: request.allowedCommands,
  // The test's environment (a uv cache of its own, loopback only) reaches uv and ws.
  exposeAllEnv: true,
});

function gitChanged() {
  // simple-git's status, as Renovate's getRepoStatus reads it: modified and untracked files.
  const out = execFileSync("git", ["status", "--porcelain", "-uall", "-z"], {
    cwd: request.repo,
    encoding: "utf8",
  });
  return out.split("\0").filter(Boolean).map((line) => line.slice(3)).sort();
}

const content = readFileSync(join(request.repo, request.packageFile), "utf8");
const extracted = await pep621.extractPackageFile(content, request.packageFile, {});
const depIndex = extracted.deps.findIndex((dep) => dep.depName === request.depName);
const dep = extracted.deps[depIndex];
const upgrade = {
  ...dep,
  depIndex,
  manager: "pep621",
  packageFile: request.packageFile,
  newValue: request.newValue,
  newVersion: request.newVersion,
  updateType: "major",
};
const newContent = await doAutoReplace(upgrade, content, false);
const artifacts = await pep621.updateArtifacts({
  packageFileName: request.packageFile,
  updatedDeps: [upgrade],
  newPackageFileContent: newContent,
  config: { ...request.renovateJson, constraints: {} },
});
const changedByArtifacts = gitChanged();

// The hosted app runs no postUpgradeTasks: a request without them plays that case.
const tasks = request.renovateJson.postUpgradeTasks ?? { commands: [], fileFilters: [] };
const gitExec = withGitEnvironment();
const commands = [];
for (const cmd of tasks.commands) {
  const allowed = request.allowedCommands.some((pattern) => regEx(pattern).test(cmd));
  let error = null;
  if (allowed) {
    try {
      await gitExec(cmd, { cwd: request.repo });
    } catch (err) {
      error = String(err.message ?? err);
    }
  }
  commands.push({ cmd, allowed, error });
}
const changed = gitChanged();
const fileFilters = tasks.fileFilters ?? ["**/*"];
const kept = (path) => fileFilters.some((pattern) => minimatch(pattern, { dot: true }).match(path));
const saved = changed.filter(kept);
const updatedPackageFiles = newContent === content ? [] : [request.packageFile];
const artifactPaths = (artifacts ?? []).map((a) => a.file?.path ?? a.artifactError);

writeFileSync(
  resultPath,
  JSON.stringify(
    {
      dep: { depName: dep.depName, currentValue: dep.currentValue, depType: dep.depType },
      depNames: extracted.deps.map((d) => d.depName),
      updatedPackageFiles,
      artifacts: artifactPaths,
      changedByArtifacts,
      commands,
      changed,
      unfiltered: (request.filterPaths ?? []).filter((path) => !kept(path)),
      committed: [...new Set([...updatedPackageFiles, ...artifactPaths, ...saved])].sort(),
    },
    null,
    2,
  ),
);
process.exit(0);
