/**
 * The two hash-wasm functions the page uses, imported by name so the bundler keeps only them
 * (importing the package's namespace dynamically would pull in all of its algorithms).
 * Loaded through `import()`: BLAKE3 on the first open, Argon2id on the first password.
 */
export { createBLAKE3, argon2id } from 'hash-wasm';
