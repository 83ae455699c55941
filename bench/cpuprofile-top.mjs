#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (node --cpu-prof): self time by function and by source area
// (our packages, node_modules package, node internals, GC/idle), as a share of the busy time.
//
//   node bench/cpuprofile-top.mjs bench/.data/run-*/profiles/inbound-worker.cpuprofile [top=25]
//   ... --from=-17 --to=-6      only the samples in that window, in seconds from the profile's start
//                               (negative: from its end), e.g. one phase of a bench run
import fs from 'node:fs';

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const [file, topArg] = args.filter((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [top] [--from=S] [--to=S]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const seconds = (value, fallback) => {
  if (value === undefined) return fallback;
  const s = Number(value) * 1e6;
  return s < 0 ? profile.endTime + s : profile.startTime + s;
};
const from = seconds(option('from'), -Infinity);
const to = seconds(option('to'), Infinity);
const selfUs = new Map();
// timeDeltas[i] is the time before sample i; charge it to the sampled node.
let at = profile.startTime;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] ?? 0;
  if (at >= from && at <= to) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

/** Where a frame comes from: an npm package, one of our workspaces, node internals, or V8's own. */
function area(frame) {
  const url = frame.url ?? '';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /\/(core|inbound-worker|smtp-server|backend|outbound-worker|imap-server|stack)\/(?:dist|src)\//.exec(url);
  if (ours) return `@mailyard/${ours[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return frame.functionName ? `(${frame.functionName})` : '(program)';
}

const fns = new Map();
const areas = new Map();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const frame = byId.get(id).callFrame;
  total += us;
  if (frame.functionName === '(idle)') {
    idle += us;
    continue;
  }
  const key = `${frame.functionName || '(anonymous)'}  ${(frame.url ?? '').replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(core|inbound-worker)\//, '$1/')}:${frame.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const a = area(frame);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const busy = total - idle;
const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)} %`;
console.log(`profile ${((Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (idle ${(idle / 1e6).toFixed(2)} s)\n`);
console.log('self time by area:');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`  ${pct(us)}  ${a}`);
console.log(`\nself time by function (top ${top}):`);
for (const [f, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${pct(us)}  ${f}`);
