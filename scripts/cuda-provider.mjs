// onnxruntime-node's own install script is denied in package.json (allowScripts): on Linux x64 it
// would download the CUDA execution provider (gigabytes, from NuGet) at every install. A GPU user
// opts in with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` (or runs `npm run cuda-provider` so after
// an install); then this runs that script, which reads the same variable.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// biome-ignore lint/suspicious/noUndeclaredEnvVars: read by npm's install step, not by a turbo task.
const flag = process.env.ONNXRUNTIME_NODE_INSTALL;
if (!flag || flag === 'skip') process.exit(0);
const script = fileURLToPath(new URL('../node_modules/onnxruntime-node/script/install.js', import.meta.url));
if (!existsSync(script)) {
  console.error(`cuda-provider: ${script} is missing; install first (npm ci)`);
  process.exit(1);
}
console.error(`cuda-provider: onnxruntime-node's installer with ONNXRUNTIME_NODE_INSTALL=${flag}`);
const { status } = spawnSync(process.execPath, [script], { stdio: 'inherit' });
process.exit(status ?? 1);
