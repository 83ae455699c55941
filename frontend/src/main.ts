// The React webmail arrives with its own issue. Nothing is built or served from here yet.
export {};
