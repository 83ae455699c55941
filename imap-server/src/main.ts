// imap-server is not implemented yet (see README). Exit with a clear message instead of pretending to run.
process.stderr.write('imap-server: not implemented yet; see README.md "What works and what does not yet"\n');
process.exit(64);
