#!/usr/bin/env node
// Where a machine's CPU went, from a system-wide `perf record` (Debian's linux-perf): samples per
// process, and for one process what kind of work its threads did. V8's own profiles (--cpu-prof)
// see only the main thread and charge it with time it spent descheduled after waking a peer (the
// `writev` and zlib `processChunk` entries of bench/README.md); perf samples every thread on the CPU,
// the optimizing compiler's and the GC's threads and libuv's thread pool included.
//
//   perf record -a -g -F 997 -o /tmp/run.data -- sleep 10          # while a bench runs
//   NODE_OPTIONS=--perf-basic-prof node bench/imap.mjs             # names for JavaScript frames (/tmp/perf-PID.map)
//   node bench/perf-split.mjs /tmp/run.data                        # samples per process
//   node bench/perf-split.mjs /tmp/run.data --pid=1234 [--top=40] [--time=START,END]
//
// `--time` takes perf's own timestamps (seconds, as `perf script` prints them). Categories for
// `--pid`: zlib (deflate/inflate in any thread), V8's optimizing compiler, GC, kernel, JavaScript and
// V8 builtins, other native code; each split by main thread and other threads.
import { execFileSync } from 'node:child_process';

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/perf-split.mjs PERF.DATA [--pid=PID] [--top=N] [--time=START,END]');
  process.exit(2);
}
const pid = option('pid');
const top = Number(option('top') ?? 30);
const time = option('time');

const perfArgs = ['script', '-i', file, '-F', 'comm,pid,tid,ip,sym,dso', '-G', ...(time ? ['--time', time] : [])];
let text;
try {
  text = execFileSync('perf', perfArgs, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
} catch (err) {
  console.error(`perf script failed (${err.message.split('\n')[0]}): is linux-perf installed (apt-get install linux-perf), and is ${file} a perf.data file?`);
  process.exit(1);
}

// One line per sample: "<comm> <pid>/<tid> <ip> <symbol> (<dso>)"; comm may contain spaces.
const SAMPLE = /^\s*(.+?)\s+(\d+)\/(\d+)\s+[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$/;
const ZLIB = /deflate|inflate|longest_match|compress_block|pqdownheap|build_tree|_tr_|fill_window|send_tree|scan_tree|adler32|crc32|updatewindow/;
const GC = /Scaveng|MarkCompact|ConcurrentMarking|Sweeper|Marking|Evacuat|FreeList|RememberedSet|SlotSet|MemoryChunk|Heap::/;

function category(symbol, dso) {
  if (dso.includes('kernel')) return 'kernel';
  if (ZLIB.test(symbol) && !symbol.startsWith('JS:')) return 'zlib';
  if (symbol.includes('compiler::') || /Turbofan|Maglev/.test(symbol)) return 'V8 optimizing compiler';
  if (GC.test(symbol)) return 'GC';
  if (symbol.startsWith('JS:') || symbol.startsWith('Builtins_') || dso.startsWith('[JIT]') || dso.startsWith('/tmp/perf-')) return 'JavaScript + V8 builtins';
  return 'other native';
}

const perProcess = new Map();
const perCommand = new Map();
const kinds = new Map();
const symbols = new Map();
let total = 0;
let ofPid = 0;
const add = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);
for (const line of text.split('\n')) {
  const m = SAMPLE.exec(line);
  if (!m) continue;
  const [, comm, p, t, symbol, dso] = m;
  total++;
  add(perProcess, `${p} ${comm}`);
  add(perCommand, comm);
  if (p !== pid) continue;
  ofPid++;
  const kind = category(symbol, dso);
  add(kinds, `${p === t ? 'main thread' : 'other threads'}: ${kind}`);
  add(symbols, `${kind}: ${symbol.slice(0, 110)}`);
}
const pct = (n, of) => `${((100 * n) / of).toFixed(1).padStart(5)} %`;
const sorted = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]);

if (total === 0) {
  console.error('no samples (a --time window outside the recording?)');
  process.exit(1);
}
if (!pid) {
  console.log(`${total} samples; per process (pid command; pid 0 is the idle loop):`);
  for (const [key, n] of sorted(perProcess).slice(0, top)) console.log(`${pct(n, total)}  ${key}`);
  console.log('\nper command (every process of that name together, e.g. all PostgreSQL backends):');
  for (const [key, n] of sorted(perCommand).slice(0, top)) console.log(`${pct(n, total)}  ${key}`);
} else {
  if (ofPid === 0) {
    console.error(`no samples of pid ${pid} in ${file}`);
    process.exit(1);
  }
  console.log(`pid ${pid}: ${ofPid} of ${total} samples (${pct(ofPid, total).trim()} of the machine's)`);
  for (const [key, n] of sorted(kinds)) console.log(`${pct(n, ofPid)}  ${key}`);
  console.log(`\ntop ${top} symbols:`);
  for (const [key, n] of sorted(symbols).slice(0, top)) console.log(`${pct(n, ofPid)}  ${key}`);
}
