/**
 * Test preload (`node --import tsx --import ./test/setup/fail-on-warning.ts --test ...`): any
 * process warning fails the run, so a leak Node only warns about cannot come back unnoticed —
 * a FileHandle left for the garbage collector to close (DEP0137), a listener added per chunk
 * (MaxListenersExceededWarning), a deprecated API.
 *
 * `node --test` runs each test file in a child process and passes this `--import` on to it, so
 * the check runs where the tests run. A warning is rethrown from the 'warning' listener: the
 * test runner reports it as an uncaught exception of the test that was running (or of the file,
 * when it comes after the last test), and the exit code is set in case it comes too late for
 * the runner to report. gc-before-exit.mjs makes unclosed FileHandles warn even in a file whose
 * tests never trigger a collection.
 */
import './gc-before-exit.mjs';

process.on('warning', (warning) => {
  process.exitCode = 1;
  throw new Error(`process warning (the test suite fails on every warning): ${warning.name}: ${warning.message}`, { cause: warning });
});
