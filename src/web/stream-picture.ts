import type { StreamMap } from '../ops/stream-map.js';

/** The picture's colours, as RGB (style.css's legend uses the same). */
export const REGION_COLOURS = {
  zero: [0xd9, 0xd9, 0xd9],
  data: [0x1f, 0x5f, 0xbf],
  dedup: [0xf2, 0x8e, 0x1c],
  parent: [0x2c, 0xa0, 0x2c],
} as const;

const KINDS = ['data', 'dedup', 'parent', 'zero'] as const;

/**
 * Draws `map` on `canvas` (one column per bucket, `canvas.width` = buckets): each column is
 * split top to bottom by the share of its bytes of each kind (data, deduplicated, in a parent,
 * zero), so a column of one kind is one colour and a mixed one shows its mix.
 */
export function drawStreamMap(canvas: HTMLCanvasElement, map: StreamMap): void {
  const { width, height } = canvas;
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(width, height);
  const px = image.data;
  for (let x = 0; x < width; x++) {
    const total = KINDS.reduce((n, k) => n + map[k][x], 0);
    let y = 0;
    for (const kind of KINDS) {
      const share = total > 0 ? map[kind][x] / total : 0;
      // The last kind fills what rounding left, so a column is never partly blank.
      const rows = kind === 'zero' ? height - y : Math.round(share * height);
      const [r, g, b] = total > 0 ? REGION_COLOURS[kind] : [255, 255, 255];
      for (let row = y; row < Math.min(height, y + rows); row++) {
        const i = (row * width + x) * 4;
        px[i] = r;
        px[i + 1] = g;
        px[i + 2] = b;
        px[i + 3] = 255;
      }
      y += rows;
    }
  }
  ctx.putImageData(image, 0, 0);
}
