/**
 * Splits a Linux device number (`st_rdev`, as glibc's `makedev` encodes it) into major and minor:
 * minor = bits 0–7 and 20–39, major = bits 8–19 and 40–63.
 */
export function splitDeviceNumber(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}
