/**
 * The safetensors file format, read and written exactly:
 *
 *   [8 bytes]  N, the header length, a little-endian u64
 *   [N bytes]  UTF-8 JSON object: { name: {dtype, shape, data_offsets: [begin, end]}, ...,
 *              "__metadata__"?: {string: string} }, padded on the right with spaces
 *   [rest]     the byte buffer; data_offsets are relative to its start
 *
 * Reading is strict about everything that could make two readers disagree on the bytes of
 * a tensor (sizes, bounds, overlaps, gaps, trailing bytes), so a truncated or hand-edited
 * checkpoint fails loudly at load instead of training on garbage.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.ts';

/** Dtypes this reader decodes. Other safetensors dtypes are recognised but rejected. */
export type ReadDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';
export type WriteDType = 'F32' | 'I32';

const ITEM_SIZE: Record<ReadDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8 };

/** Valid in the format, but nothing in milec produces or consumes them yet. */
const KNOWN_UNSUPPORTED = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'U64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
  'C64',
]);

export interface TensorToWrite {
  dtype: WriteDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

/**
 * A decoded tensor. Float dtypes (F32, F16, BF16, F64) decode to Float32Array (F64 is
 * rounded to f32: the runtime computes in f32); I32 and I64 decode to Int32Array (I64
 * values outside the i32 range are rejected rather than silently wrapped). `dtype` is the
 * dtype as stored in the file.
 */
export interface DecodedTensor {
  dtype: ReadDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  path: string;
  /** Null-prototype record, so any name (even `__proto__`) is a safe key. */
  tensors: Record<string, DecodedTensor>;
  /** Tensor names in buffer order (a record's key order puts integer-like names first). */
  names: string[];
  metadata: Record<string, string>;
}

/** A malformed safetensors file. `message` is `${path}: ${reason}`. */
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------
// Writing

/**
 * Encodes tensors (sorted by name, laid out contiguously in that order) and optional
 * string metadata. The header is compact JSON padded with spaces to a multiple of 8, so
 * the buffer starts 8-byte aligned and every F32/I32 tensor is 4-byte aligned in the file.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort(compareCodeUnits);
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`encodeSafetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (name === METADATA_KEY) throw new Error(`encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (name === '') throw new Error('encodeSafetensors: tensor names must be non-empty');
    const expected = t.dtype === 'F32' ? Float32Array : t.dtype === 'I32' ? Int32Array : undefined;
    if (expected === undefined)
      throw new Error(`encodeSafetensors: tensor "${name}": cannot write dtype ${String(t.dtype)} (F32 or I32 only)`);
    if (!(t.data instanceof expected))
      throw new TypeError(`encodeSafetensors: tensor "${name}": dtype ${t.dtype} needs a ${expected.name}`);
    const count = elementCount(t.shape);
    if (count === undefined) throw new Error(`encodeSafetensors: tensor "${name}": bad shape [${t.shape.join(', ')}]`);
    if (count !== t.data.length) {
      throw new Error(
        `encodeSafetensors: tensor "${name}": shape [${t.shape.join(', ')}] has ${count} elements, data has ${t.data.length}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);

  let at = 8 + headerLen;
  for (const name of names) {
    const data = tensors[name]!.data;
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      // Both writable dtypes are 4 bytes wide; setInt32/setFloat32 fix the byte order.
      for (let i = 0; i < data.length; i++) {
        if (data instanceof Float32Array) view.setFloat32(at + 4 * i, data[i]!, true);
        else view.setInt32(at + 4 * i, data[i]!, true);
      }
    }
    at += data.byteLength;
  }
  return out;
}

/** Encodes and writes via a temp file + rename, so a crash never leaves half a checkpoint. */
export async function writeSafetensorsAtomic(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

// ---------------------------------------------------------------------------------------
// Reading

/** Reads and fully validates a file. (Node's readFile caps a file at 2 GiB.) */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const buf = await readFile(path);
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

interface Entry {
  name: string;
  dtype: ReadDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Decodes `bytes`; `path` only labels errors. Throws FormatError on any malformation. */
export function decodeSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  const fail = (reason: string): never => {
    throw new FormatError(path, reason);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) fail(`header length ${n} runs beyond the end of the file (${bytes.length - 8} bytes after the length)`);
  const headerLen = Number(n);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail('header is not a JSON object');
  const header = parsed as Record<string, unknown>;

  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    entries.push(parseEntry(name, value, fail));
  }

  // The buffer must be tiled exactly: sorted by offset, each tensor starts where the last
  // ended, the first at 0 and the last at the end of the file.
  const bufferStart = 8 + headerLen;
  const bufferLen = bytes.length - bufferStart;
  for (const e of entries) {
    if (e.end > bufferLen) fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] out of bounds (buffer is ${bufferLen} bytes)`);
  }
  const order = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of order) {
    if (e.begin < cursor)
      fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev!.name}" [${prev!.begin}, ${prev!.end}]`);
    if (e.begin > cursor) fail(`gap of ${e.begin - cursor} unused bytes at buffer offset ${cursor} before tensor "${e.name}"`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== bufferLen) fail(`${bufferLen - cursor} trailing bytes after the last tensor`);

  const tensors: Record<string, DecodedTensor> = Object.create(null);
  for (const e of order) {
    const data = decodeData(bytes.subarray(bufferStart + e.begin, bufferStart + e.end), e, fail);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { path, tensors, names: order.map((e) => e.name), metadata };
}

function parseEntry(name: string, value: unknown, fail: (reason: string) => never): Entry {
  const where = `tensor "${name}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${where}: entry is not an object`);
  const v = value as Record<string, unknown>;
  if (typeof v.dtype !== 'string') fail(`${where}: missing dtype`);
  const dtype = v.dtype as string;
  if (!Object.hasOwn(ITEM_SIZE, dtype)) {
    fail(
      KNOWN_UNSUPPORTED.has(dtype)
        ? `${where}: dtype ${dtype} is not supported (F32, F16, BF16, F64, I32, I64)`
        : `${where}: unknown dtype "${dtype}"`,
    );
  }
  if (!Array.isArray(v.shape)) fail(`${where}: shape is not an array`);
  const shape = v.shape as unknown[];
  if (!shape.every(isNonNegInt)) fail(`${where}: shape ${JSON.stringify(shape)} must hold non-negative integers`);
  const offs = v.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt))
    fail(`${where}: data_offsets must be [begin, end] non-negative integers`);
  const [begin, end] = offs as [number, number];
  if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  const count = elementCount(shape as number[]);
  const size = ITEM_SIZE[dtype as ReadDType];
  if (count === undefined || count * size !== end - begin) {
    fail(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${count === undefined ? 'too many' : count * size} bytes, data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype: dtype as ReadDType, shape: shape as number[], begin, end };
}

function decodeData(src: Uint8Array, e: Entry, fail: (reason: string) => never): Float32Array | Int32Array {
  const count = src.length / ITEM_SIZE[e.dtype];
  // Copying the bytes first gives an aligned buffer; the file offset may be unaligned.
  if (LITTLE_ENDIAN_HOST && e.dtype === 'F32') return new Float32Array(src.slice().buffer);
  if (LITTLE_ENDIAN_HOST && e.dtype === 'I32') return new Int32Array(src.slice().buffer);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  switch (e.dtype) {
    case 'F32':
    case 'F64':
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        if (e.dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
        else if (e.dtype === 'F64') out[i] = view.getFloat64(8 * i, true);
        else if (e.dtype === 'F16') out[i] = halfToFloat(view.getUint16(2 * i, true));
        // bf16 is the top half of an f32.
        else out[i] = bitsToFloat(view.getUint16(2 * i, true) << 16);
      }
      return out;
    }
    case 'I32':
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        if (e.dtype === 'I32') {
          out[i] = view.getInt32(4 * i, true);
        } else {
          const x = view.getBigInt64(8 * i, true);
          if (x < -2147483648n || x > 2147483647n) fail(`tensor "${e.name}": I64 element ${i} = ${x} does not fit in i32`);
          out[i] = Number(x);
        }
      }
      return out;
    }
  }
}

const scratch = new DataView(new ArrayBuffer(4));
function bitsToFloat(bits: number): number {
  scratch.setUint32(0, bits >>> 0);
  return scratch.getFloat32(0);
}

/** IEEE binary16 to a number: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Product of a shape's dims; undefined for a bad dim or a product past 2^53. */
function elementCount(shape: readonly number[]): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let n = 1;
  for (const d of shape) {
    if (!isNonNegInt(d)) return undefined;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Sort by UTF-16 code units, not locale, so the order is the same on every machine. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
