/**
 * Ranges shorter than this (16 MiB) decode in the calling thread by default: starting workers
 * (tens of milliseconds each) costs more than decoding a few MiB.
 */
export const PARALLEL_MIN_BYTES = 16 << 20;
