/**
 * Thrown when a sealed object (docs/FORMAT.md §12.3) does not open: the tag does not verify
 * (wrong key, altered bytes or wrong associated data) or the object is too short. Portable: the
 * reader core catches it whatever AES-GCM implementation opened the seal.
 */
export class SealError extends Error {}
