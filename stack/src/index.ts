// The one-process stack has no library surface; see main.ts.
export {};
