declare module 'lz4' {
  const lz4: {
    encodeBound(size: number): number;
    encodeBlock(input: Buffer, output: Buffer, start?: number, end?: number): number;
    decodeBlock(input: Buffer, output: Buffer, start?: number, end?: number): number;
  };
  export default lz4;
}
