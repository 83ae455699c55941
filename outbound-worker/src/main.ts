// outbound-worker is not implemented yet (see README). Exit with a clear message instead of pretending to run.
process.stderr.write('outbound-worker: not implemented yet; see README.md "What works and what does not yet"\n');
process.exit(64);
