import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ImageCache, ImageError, preprocess, readImage, resizeBilinear, toPlanar } from '../../runtime/data/images.ts';

const img = (name: string): string => fileURLToPath(new URL(`../fixtures/vqa/images/${name}`, import.meta.url));
const close = (got: ArrayLike<number>, want: number[], tol = 1e-5): void => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(tol));
};

describe('bilinear resize (align_corners=False)', () => {
  it('upscales 2x2 -> 4x4 as computed by hand', () => {
    // Sample points (o + .5)/2 - .5 = -.25 (clamped to 0), .25, .75, 1.25 (clamped to the last pixel).
    const out = resizeBilinear(new Float32Array([0, 10, 20, 30]), 1, 2, 2, 4, 4);
    close(out, [0, 2.5, 7.5, 10, 5, 7.5, 12.5, 15, 15, 17.5, 22.5, 25, 20, 22.5, 27.5, 30]);
  });
  it('downscales 4x4 -> 2x2 by sampling block centres (no antialiasing)', () => {
    const out = resizeBilinear(
      Float32Array.from({ length: 16 }, (_, i) => i),
      1,
      4,
      4,
      2,
      2,
    );
    close(out, [2.5, 4.5, 10.5, 12.5]);
  });
  it('resizes non-square, per channel', () => {
    // 1x2 -> 1x3 per channel: x samples at -1/6 (->0), .5, 7/6 (->1).
    const out = resizeBilinear(new Float32Array([0, 6, 100, 160]), 2, 1, 2, 1, 3);
    close(out, [0, 3, 6, 100, 130, 160]);
  });
  it('is the identity at the same size', () => {
    const src = Float32Array.from({ length: 12 }, (_, i) => i * i);
    close(resizeBilinear(src, 3, 2, 2, 2, 2), [...src]);
  });
});

describe('decode and preprocess', () => {
  it('decodes PNG (gray ramp, RGBA) exactly', () => {
    const r = readImage(img('ramp.png'));
    expect([r.width, r.height]).toEqual([4, 4]);
    close(
      toPlanar(r, 1),
      Array.from({ length: 16 }, (_, i) => i * 10),
      1e-3,
    );
    const c = readImage(img('rgb2.png'));
    // Alpha is dropped; channels are planar.
    close(toPlanar(c, 3), [0, 100, 0, 100, 0, 0, 100, 100, 50, 50, 50, 50]);
  });
  it('decodes JPEG (close to the encoded colour)', () => {
    const r = readImage(img('blue.jpg'));
    expect([r.width, r.height]).toEqual([16, 16]);
    const x = preprocess(r, { size: 4 });
    expect(x.length).toBe(3 * 16);
    const means = [0, 1, 2].map((c) => x.slice(c * 16, (c + 1) * 16).reduce((a, b) => a + b, 0) / 16);
    close(means, [40 / 255, 80 / 255, 200 / 255], 3 / 255);
  });
  it('scales by 1/255 by default, with optional normalization and grayscale', () => {
    const r = readImage(img('ramp.png'));
    close(
      preprocess(r, { size: 2, channels: 1 }),
      [25, 45, 105, 125].map((v) => v / 255),
      1e-5,
    );
    const n = preprocess(r, { size: 2, channels: 3, normalize: { mean: [0.5], std: [0.5] } });
    expect(n.length).toBe(12);
    close(
      n.slice(8),
      [25, 45, 105, 125].map((v) => (v / 255 - 0.5) / 0.5),
      1e-5,
    );
    close(preprocess(r, { size: 1, channels: 1, scale: 1 / (255 * 255) }), [75 / (255 * 255)], 1e-7);
  });
  it('reports missing and corrupt images with their path', () => {
    expect(() => readImage(img('nope.png'))).toThrow(`${img('nope.png')}: missing image (ENOENT)`);
    expect(() => readImage(img('truncated.png'))).toThrow(new RegExp(`^${img('truncated.png').replace(/[.]/g, '\\.')}: corrupt PNG`));
    expect(() => readImage(img('not-an-image.jpg'))).toThrow(/not-an-image\.jpg: not a PNG or JPEG file/);
  });
  it('caches results and failures', () => {
    const cache = new ImageCache({ size: 2, channels: 1 }, 2);
    const a = cache.get(img('ramp.png'));
    expect(cache.get(img('ramp.png'))).toBe(a);
    expect(() => cache.get(img('truncated.png'))).toThrow(ImageError);
    expect(() => cache.get(img('truncated.png'))).toThrow(ImageError);
    expect([cache.hits, cache.misses]).toEqual([2, 2]);
  });
});
