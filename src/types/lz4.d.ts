declare module 'lz4' {
  const lz4: {
    encodeBound(size: number): number;
    encodeBlock(input: Buffer, output: Buffer, start?: number, end?: number): number;
    decodeBlock(input: Buffer, output: Buffer, start?: number, end?: number): number;
  };
  export default lz4;
}

declare module 'lz4js' {
  /** Decodes the raw LZ4 block `src[sIndex, sIndex+sLength)` into `dst` from `dIndex`; returns the end index in `dst`. */
  export function decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number;
}
