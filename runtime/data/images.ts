/**
 * Image decoding and preprocessing for the VQA datasets.
 *
 * PNG through `pngjs`, JPEG through `jpeg-js` (both pure JS, no native build). The format is
 * picked from the file's magic bytes, not its extension. Decoded pixels are RGBA u8; they are
 * converted to RGB (alpha dropped, as PIL's `convert('RGB')`) or grayscale (ITU-R 601-2 luma,
 * as PIL's `convert('L')`), resized bilinearly to the model's input size, scaled, optionally
 * normalized, and laid out CHW as f32.
 *
 * Resize semantics: PyTorch's `F.interpolate(mode='bilinear', align_corners=False,
 * antialias=False)`: output pixel (y, x) samples the input at ((y+.5)·H/h − .5, (x+.5)·W/w − .5),
 * clamped at 0 below and at the last row/column above. Note torchvision's `Resize` on a PIL
 * image (what the study's transform does) uses PIL's bilinear filter, which widens its support
 * when downscaling (antialiasing); for upscaling both agree. Antialiased downscaling is not
 * implemented here.
 *
 * Scaling: the study has no normalization: `ToTensor()` (pixels/255). Its code then divides by
 * 255 once more (`data/255`), leaving pixels in [0, 1/255]; pass `scale: 1 / (255 * 255)` to
 * reproduce that exactly.
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

export class ImageError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export interface RawImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row-major. */
  rgba: Uint8Array;
}

export type ColorMode = 'rgb' | 'gray';

export interface PreprocessOptions {
  /** Output size (square when a number). */
  size: number | { height: number; width: number };
  /** Output channels: 3 (RGB) or 1 (gray). Default 3. A gray request from an RGB image uses luma. */
  channels?: 1 | 3;
  /** Multiplier applied to 0..255 values; default 1/255. */
  scale?: number;
  /** Per-channel normalization after scaling: (x - mean) / std. */
  normalize?: { mean: readonly number[]; std: readonly number[] };
}

/** Decodes PNG or JPEG bytes; `path` only names the file in errors. */
export function decodeImage(bytes: Uint8Array, path = '<bytes>'): RawImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (bytes.length === 0) throw new ImageError(path, 'empty file');
  if (isPng) {
    try {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const n = png.width * png.height * 4;
      let rgba: Uint8Array;
      if (png.data.length === n) rgba = new Uint8Array(png.data.buffer, png.data.byteOffset, n);
      else throw new Error(`unexpected pixel buffer of ${png.data.length} bytes for ${png.width}x${png.height}`);
      return { width: png.width, height: png.height, rgba };
    } catch (e) {
      throw new ImageError(path, `corrupt PNG: ${(e as Error).message}`);
    }
  }
  if (isJpeg) {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, rgba: img.data };
    } catch (e) {
      throw new ImageError(path, `corrupt JPEG: ${(e as Error).message}`);
    }
  }
  throw new ImageError(path, 'not a PNG or JPEG file (unrecognized signature)');
}

/** Reads and decodes a file; a missing file is an ImageError with reason `missing image (ENOENT)`. */
export function readImage(path: string): RawImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(path, code === 'ENOENT' ? 'missing image (ENOENT)' : `cannot read image: ${code ?? (e as Error).message}`);
  }
  return decodeImage(bytes, path);
}

/** RGBA u8 → planar f32 [C, H, W] with values 0..255. */
export function toPlanar(img: RawImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(channels * n);
  const p = img.rgba;
  for (let i = 0; i < n; i++) {
    const r = p[4 * i]!;
    const g = p[4 * i + 1]!;
    const b = p[4 * i + 2]!;
    if (channels === 3) {
      out[i] = r;
      out[n + i] = g;
      out[2 * n + i] = b;
    } else out[i] = (r * 299 + g * 587 + b * 114) / 1000;
  }
  return out;
}

/**
 * Bilinear resize of planar [C, inH, inW] to [C, outH, outW], align_corners=False
 * (PyTorch `F.interpolate` semantics, no antialiasing).
 */
export function resizeBilinear(src: Float32Array, channels: number, inH: number, inW: number, outH: number, outW: number): Float32Array {
  if (src.length !== channels * inH * inW) throw new RangeError(`resizeBilinear: ${src.length} values for [${channels}, ${inH}, ${inW}]`);
  const out = new Float32Array(channels * outH * outW);
  const axis = (outN: number, inN: number): { i0: Int32Array; i1: Int32Array; w: Float64Array } => {
    const i0 = new Int32Array(outN);
    const i1 = new Int32Array(outN);
    const w = new Float64Array(outN);
    const s = inN / outN;
    for (let o = 0; o < outN; o++) {
      const x = Math.max((o + 0.5) * s - 0.5, 0);
      const lo = Math.min(Math.floor(x), inN - 1);
      i0[o] = lo;
      i1[o] = Math.min(lo + 1, inN - 1);
      w[o] = x - lo;
    }
    return { i0, i1, w };
  };
  const ys = axis(outH, inH);
  const xs = axis(outW, inW);
  for (let c = 0; c < channels; c++) {
    const base = c * inH * inW;
    const obase = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = base + ys.i0[y]! * inW;
      const r1 = base + ys.i1[y]! * inW;
      const wy = ys.w[y]!;
      for (let x = 0; x < outW; x++) {
        const a = xs.i0[x]!;
        const b = xs.i1[x]!;
        const wx = xs.w[x]!;
        const top = src[r0 + a]! * (1 - wx) + src[r0 + b]! * wx;
        const bot = src[r1 + a]! * (1 - wx) + src[r1 + b]! * wx;
        out[obase + y * outW + x] = top * (1 - wy) + bot * wy;
      }
    }
  }
  return out;
}

function sizeOf(o: PreprocessOptions): { height: number; width: number } {
  return typeof o.size === 'number' ? { height: o.size, width: o.size } : o.size;
}

/** Decoded image → model-ready f32 [C, H, W]. */
export function preprocess(img: RawImage, o: PreprocessOptions): Float32Array {
  const channels = o.channels ?? 3;
  const { height, width } = sizeOf(o);
  let x = toPlanar(img, channels);
  if (img.height !== height || img.width !== width) x = resizeBilinear(x, channels, img.height, img.width, height, width);
  const scale = o.scale ?? 1 / 255;
  const n = height * width;
  for (let c = 0; c < channels; c++) {
    const mean = o.normalize ? (o.normalize.mean[c] ?? o.normalize.mean[0] ?? 0) : 0;
    const std = o.normalize ? (o.normalize.std[c] ?? o.normalize.std[0] ?? 1) : 1;
    for (let i = c * n; i < (c + 1) * n; i++) x[i] = (x[i]! * scale - mean) / std;
  }
  return x;
}

/**
 * A small LRU cache of preprocessed images, keyed by path and preprocessing options. Failures
 * are cached too (a corrupt file is decoded once, reported once).
 */
export class ImageCache {
  private readonly map = new Map<string, Float32Array | ImageError>();
  hits = 0;
  misses = 0;
  constructor(
    readonly opts: PreprocessOptions,
    readonly capacity = 256,
  ) {}

  /** f32 [C, H, W]; throws ImageError (with the path) for a missing or corrupt image. */
  get(path: string): Float32Array {
    const got = this.map.get(path);
    if (got !== undefined) {
      this.hits++;
      this.map.delete(path);
      this.map.set(path, got);
      if (got instanceof ImageError) throw got;
      return got;
    }
    this.misses++;
    let v: Float32Array | ImageError;
    try {
      v = preprocess(readImage(path), this.opts);
    } catch (e) {
      v = e instanceof ImageError ? e : new ImageError(path, (e as Error).message);
    }
    this.map.set(path, v);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
    if (v instanceof ImageError) throw v;
    return v;
  }
}
