/**
 * Not built yet: this service arrives with its own issue (see README "What works").
 * It exports nothing and starts nothing.
 */
export const implemented = false;
