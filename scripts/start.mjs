// `npm start`: install what is missing, build, and run every service (each in its own process, see stack/src/main.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { build, ensureNodeModules, ensureSystemPackages, root } from './lib.mjs';

ensureNodeModules();
// A private redis-server runs only when no Redis is configured (stack/src/main.ts).
if (!process.env.REDIS_URL && !process.env.REDIS_SENTINELS) ensureSystemPackages(['redis-server:redis-server']);
build();

const child = spawn(process.execPath, [join(root, 'stack', 'dist', 'main.js')], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
