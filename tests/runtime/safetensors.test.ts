import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FormatError,
  decodeSafetensors,
  encodeSafetensors,
  halfToFloat,
  readSafetensors,
  writeSafetensorsAtomic,
} from '../../runtime/safetensors.ts';

const PATH = '/ckpt/model.safetensors';

/** A file from a header string (padded to 8 by the caller, or not) and raw buffer bytes. */
function build(header: string, buffer: number[] | Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

function f32Header(entries: Record<string, [number[], number, number]>, dtype = 'F32'): string {
  const h: Record<string, unknown> = {};
  for (const [k, [shape, b, e]] of Object.entries(entries)) h[k] = { dtype, shape, data_offsets: [b, e] };
  return JSON.stringify(h);
}

/** Decoding must fail with a FormatError naming the path and matching the reason. */
function expectRejected(bytes: Uint8Array, reason: RegExp): void {
  let err: unknown;
  try {
    decodeSafetensors(bytes, PATH);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  const fe = err as FormatError;
  expect(fe.path).toBe(PATH);
  expect(fe.message.startsWith(`${PATH}: `)).toBe(true);
  expect(fe.reason).toMatch(reason);
  expect(fe.message).toBe(`${PATH}: ${fe.reason}`);
}

describe('encode', () => {
  it('matches a file built byte by byte', () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
    expect(header.length).toBe(139); // padded with 5 spaces to 144 = 0x90
    const expected = new Uint8Array([
      0x90,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...[...header].map((c) => c.charCodeAt(0)),
      0x20,
      0x20,
      0x20,
      0x20,
      0x20,
      0x00,
      0x00,
      0x80,
      0x3f, // 1.0f
      0x00,
      0x00,
      0x00,
      0xc0, // -2.0f
      0x07,
      0x00,
      0x00,
      0x00, // 7
    ]);
    // Given out of order: the encoder sorts by name.
    const got = encodeSafetensors(
      {
        b: { dtype: 'I32', shape: [1], data: new Int32Array([7]) },
        a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
      },
      { format: 'pt' },
    );
    expect([...got]).toEqual([...expected]);
  });

  it('round-trips shapes, values, metadata and odd names', () => {
    const base = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const tensors = {
      'layer.0.lora_A': { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([0.5, -1.25, 3e-8, Infinity, -0, 1e30]) },
      // A subarray view: the encoder must write only the viewed bytes.
      view: { dtype: 'F32' as const, shape: [3], data: base.subarray(4, 7) },
      ids: { dtype: 'I32' as const, shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -1]) },
      scalar: { dtype: 'F32' as const, shape: [], data: new Float32Array([42]) },
      empty: { dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) },
      ['__proto__']: { dtype: 'I32' as const, shape: [1], data: new Int32Array([3]) },
    };
    const bytes = encodeSafetensors(tensors, { step: '100', note: 'ünïcode' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const file = decodeSafetensors(bytes, PATH);
    expect(file.path).toBe(PATH);
    expect({ ...file.metadata }).toEqual({ step: '100', note: 'ünïcode' });
    expect(Object.keys(file.tensors)).toEqual(['__proto__', 'empty', 'ids', 'layer.0.lora_A', 'scalar', 'view']);
    for (const [name, t] of Object.entries(tensors)) {
      const got = file.tensors[name]!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data).toBeInstanceOf(t.data.constructor);
      expect([...got.data]).toEqual([...t.data]);
    }
    expect(Object.is(file.tensors['layer.0.lora_A']!.data[4], -0)).toBe(true);
  });

  it('writes an empty file with no tensors', () => {
    const file = decodeSafetensors(encodeSafetensors({}), PATH);
    expect(Object.keys(file.tensors)).toEqual([]);
    expect(Object.keys(file.metadata)).toEqual([]);
  });

  it('rejects bad input', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/3 elements, data has 2/);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Int32Array(1) as unknown as Float32Array } })).toThrow(
      /Float32Array/,
    );
    expect(() => encodeSafetensors({ a: { dtype: 'F16' as 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(
      /cannot write dtype F16/,
    );
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } })).toThrow(/bad shape/);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(/reserved/);
    expect(() => encodeSafetensors({}, { a: 1 as unknown as string })).toThrow(/must be a string/);
  });
});

describe('decode dtypes', () => {
  it('decodes F16, BF16, F64 and I64', () => {
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [12, 16] },
      d: { dtype: 'F64', shape: [1], data_offsets: [16, 24] },
      l: { dtype: 'I64', shape: [2], data_offsets: [24, 40] },
    });
    const buf = new Uint8Array(40);
    const v = new DataView(buf.buffer);
    // f16: 1.0, -2.0, 65504 (max), smallest subnormal, +inf, NaN
    [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00].forEach((h, i) => v.setUint16(2 * i, h, true));
    v.setUint16(12, 0x3fc0, true); // bf16 1.5
    v.setUint16(14, 0xc120, true); // bf16 -10
    v.setFloat64(16, 0.1, true);
    v.setBigInt64(24, -5n, true);
    v.setBigInt64(32, 2147483647n, true);
    const file = decodeSafetensors(build(header, buf), PATH);
    expect([...file.tensors.h!.data]).toEqual([1, -2, 65504, 2 ** -24, Infinity, NaN]);
    expect(file.tensors.h!.data).toBeInstanceOf(Float32Array);
    expect([...file.tensors.b!.data]).toEqual([1.5, -10]);
    expect(file.tensors.d!.data[0]).toBe(Math.fround(0.1));
    expect(file.tensors.l!.data).toBeInstanceOf(Int32Array);
    expect([...file.tensors.l!.data]).toEqual([-5, 2147483647]);
    expect(file.tensors.l!.dtype).toBe('I64');
    expect(halfToFloat(0x8000)).toBe(-0);
    expect(halfToFloat(0x0400)).toBe(2 ** -14);
  });

  it('decodes F32 at an unaligned offset', () => {
    // Header length 9: the buffer starts at byte 17, so floats are not 4-aligned.
    const header = f32Header({ x: [[1], 0, 4] }) + ' ';
    const file = decodeSafetensors(build(header, [0x00, 0x00, 0x80, 0x3f]), PATH);
    expect([...file.tensors.x!.data]).toEqual([1]);
  });

  it('rejects I64 values outside i32', () => {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigInt64(0, 2147483648n, true);
    expectRejected(build(f32Header({ l: [[1], 0, 8] }, 'I64'), buf), /I64 element 0 = 2147483648 does not fit in i32/);
  });
});

describe('malformed files', () => {
  const ok = f32Header({ a: [[2], 0, 8], b: [[1], 8, 12] });

  it('file shorter than 8 bytes', () => {
    expectRejected(new Uint8Array(0), /0 bytes, shorter than the 8-byte header length/);
    expectRejected(new Uint8Array(7), /7 bytes, shorter than the 8-byte/);
  });

  it('header length beyond the file', () => {
    expectRejected(build(ok, new Uint8Array(12), 1000n), /header length 1000 runs beyond the end of the file/);
    expectRejected(build(ok, new Uint8Array(12), 2n ** 64n - 1n), /header length 18446744073709551615 runs beyond/);
  });

  it('header not JSON, not UTF-8, not an object', () => {
    expectRejected(build('{"a": ', []), /header is not valid JSON/);
    expectRejected(build('[1, 2]', []), /header is not a JSON object/);
    expectRejected(build('null    ', []), /header is not a JSON object/);
    const bad = build('{}      ', []);
    bad[9] = 0xff;
    expectRejected(bad, /header is not valid UTF-8/);
  });

  it('bad entries and metadata', () => {
    expectRejected(build('{"a": 3}', []), /tensor "a": entry is not an object/);
    expectRejected(build(JSON.stringify({ a: { shape: [1], data_offsets: [0, 4] } }), new Uint8Array(4)), /tensor "a": missing dtype/);
    expectRejected(
      build(JSON.stringify({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }), new Uint8Array(4)),
      /shape \[1.5\] must hold non-negative integers/,
    );
    expectRejected(
      build(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }), new Uint8Array(4)),
      /data_offsets must be \[begin, end\]/,
    );
    expectRejected(
      build(JSON.stringify({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }), new Uint8Array(4)),
      /end before they begin/,
    );
    expectRejected(build(JSON.stringify({ __metadata__: { k: 1 } }), []), /metadata "k" is not a string/);
    expectRejected(build(JSON.stringify({ __metadata__: [] }), []), /"__metadata__" is not an object/);
  });

  it('unknown dtype', () => {
    expectRejected(build(f32Header({ a: [[1], 0, 4] }, 'F17'), new Uint8Array(4)), /tensor "a": unknown dtype "F17"/);
    expectRejected(build(f32Header({ a: [[4], 0, 4] }, 'U8'), new Uint8Array(4)), /dtype U8 is not supported/);
  });

  it('shape / offset size mismatch', () => {
    expectRejected(
      build(f32Header({ a: [[3], 0, 8] }), new Uint8Array(8)),
      /tensor "a": shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] span 8/,
    );
  });

  it('offsets out of bounds', () => {
    expectRejected(build(ok, new Uint8Array(8)), /tensor "b": data_offsets \[8, 12\] out of bounds \(buffer is 8 bytes\)/);
  });

  it('overlapping tensors', () => {
    expectRejected(
      build(f32Header({ a: [[2], 0, 8], b: [[1], 4, 8] }), new Uint8Array(8)),
      /tensor "b": data_offsets \[4, 8\] overlap tensor "a" \[0, 8\]/,
    );
    // Two names for the same bytes.
    expectRejected(build(f32Header({ a: [[1], 0, 4], b: [[1], 0, 4] }), new Uint8Array(8)), /overlap/);
  });

  it('gaps between tensors and before the first', () => {
    expectRejected(
      build(f32Header({ a: [[1], 0, 4], b: [[1], 8, 12] }), new Uint8Array(12)),
      /gap of 4 unused bytes at buffer offset 4 before tensor "b"/,
    );
    expectRejected(build(f32Header({ a: [[1], 4, 8] }), new Uint8Array(8)), /gap of 4 unused bytes at buffer offset 0/);
  });

  it('trailing bytes', () => {
    expectRejected(build(ok, new Uint8Array(13)), /1 trailing bytes after the last tensor/);
    expectRejected(build('{}', [0]), /1 trailing bytes/);
  });

  it('a truncated file', () => {
    const full = encodeSafetensors({ w: { dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) } });
    expectRejected(full.subarray(0, full.length - 1), /tensor "w": data_offsets \[0, 64\] out of bounds \(buffer is 63 bytes\)/);
    expectRejected(full.subarray(0, 20), /header length \d+ runs beyond the end of the file/);
    expectRejected(full.subarray(0, 5), /5 bytes, shorter than/);
  });

  it('a header that lies about offsets', () => {
    // Sizes agree with shapes, everything is in bounds and the total matches, but the
    // header claims b comes first: that is fine. Claiming b's bytes are a's is not.
    const truthful = f32Header({ a: [[1], 4, 8], b: [[1], 0, 4] });
    const bytes = build(truthful, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    const file = decodeSafetensors(bytes, PATH);
    expect(file.tensors.a!.data[0]).toBe(2);
    expect(file.tensors.b!.data[0]).toBe(1);
    expect(file.names).toEqual(['b', 'a']);
    expectRejected(build(f32Header({ a: [[1], 0, 4], b: [[1], 2, 6] }), new Uint8Array(8)), /overlap/);
    expectRejected(build(f32Header({ a: [[2], 0, 8] }), new Uint8Array(4)), /out of bounds/);
  });
});

describe('files on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'milec-st-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically and reads back', async () => {
    const path = join(dir, 'adapter.safetensors');
    await writeSafetensorsAtomic(path, { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { step: '1' });
    await writeSafetensorsAtomic(path, { w: { dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) } }, { step: '2' });
    const file = await readSafetensors(path);
    expect(file.path).toBe(path);
    expect([...file.tensors.w!.data]).toEqual([3, 4]);
    expect(file.metadata.step).toBe('2');
    expect(await readdir(dir)).toEqual(['adapter.safetensors']);
  });

  it('names the real path when a file on disk is malformed', async () => {
    const path = join(dir, 'broken.safetensors');
    const good = await readFile(join(dir, 'adapter.safetensors'));
    await writeFile(path, good.subarray(0, good.length - 3));
    await expect(readSafetensors(path)).rejects.toThrow(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*out of bounds`));
  });
});
