// `npm start` has no library surface; see main.ts (the parent) and child.ts (each service).
export {};
