/**
 * Crash-safe replacement of files and folders. A reader (or a resumed run) sees either the
 * old contents or the new, never a prefix: the data goes to a temporary name in the same
 * directory (same filesystem, so rename is atomic), is fsynced, and is then renamed over
 * the target. Without the fsync a power cut after the rename can leave a zero-length file
 * under the new name on ext4/xfs; without the directory fsync the rename itself may be lost.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * What to write: bytes, a string (UTF-8), or chunks from a (possibly async) producer, so a
 * large checkpoint can be streamed without one giant buffer. A producer that throws aborts
 * the write and leaves the old target untouched.
 */
export type AtomicData = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** `.<name>.<pid>.<random>.<suffix>` beside `target`: hidden, unique per process and call. */
function siblingName(target: string, suffix: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.${suffix}`);
}

async function writeAll(fh: FileHandle, data: AtomicData): Promise<void> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    await fh.writeFile(data);
    return;
  }
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('writeFileAtomic: producer yielded a non-Uint8Array chunk');
    // FileHandle.write may write less than asked; loop until the chunk is out.
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
  }
}

/** Codes meaning "this platform cannot fsync a directory" (Windows, some FUSE mounts). */
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF']);

/** Makes a rename in `dir` durable. Real I/O errors (EIO) still throw. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/** Writes `data` to a fresh file at `path` (which must not exist) and fsyncs it. */
async function writeAndSync(path: string, data: AtomicData, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await writeAll(fh, data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface AtomicOptions {
  /**
   * Permission bits for a new file (the umask applies). When replacing an existing file its
   * mode is kept instead, so an atomic rewrite does not silently change permissions.
   */
  mode?: number;
}

/**
 * Replaces `path` with `data` atomically. On any failure (producer throws, disk full,
 * rename refused) the temp file is removed, the old target is left as it was, and the
 * original error is rethrown. The parent directory must exist.
 */
export async function writeFileAtomic(path: string, data: AtomicData, opts: AtomicOptions = {}): Promise<void> {
  const target = resolve(path);
  let mode = opts.mode ?? 0o666;
  try {
    const st = await stat(target);
    if (st.isFile()) mode = st.mode & 0o7777;
  } catch {
    // No existing file: use the default mode.
  }
  const tmp = siblingName(target, 'tmp');
  try {
    await writeAndSync(tmp, data, mode);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await fsyncDir(dirname(target));
}

/** Fsyncs every file and directory under `dir`, children before parents. */
async function syncTree(dir: string): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      await syncTree(p);
    } else if (ent.isFile()) {
      const fh = await open(p, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
  await fsyncDir(dir);
}

/** Rejects names that would escape the folder being built. */
function checkRelative(name: string): void {
  const parts = name.split(/[\\/]/);
  if (name === '' || name.startsWith('/') || /^[A-Za-z]:/.test(name) || parts.some((p) => p === '..' || p === '' || p === '.')) {
    throw new Error(`writeDirAtomic: "${name}" must be a plain relative path inside the folder`);
  }
}

/**
 * Replaces the folder `path` (e.g. a checkpoint of several files) with new contents.
 * `contents` maps relative file names to data, or is a callback that fills the staging
 * folder it is given. The new folder is built and fsynced under a hidden sibling name.
 *
 * POSIX cannot rename a folder over a non-empty one, so an existing folder is first moved
 * aside to `.<name>.<pid>.<rand>.old`, the new one renamed in, and the old one deleted
 * only after that succeeds; if the second rename fails the old folder is moved back. A
 * crash exactly between the two renames leaves no `path` but the complete previous
 * version under the `.old` name, never a mix of old and new files.
 */
export async function writeDirAtomic(
  path: string,
  contents: Record<string, AtomicData> | ((stagingDir: string) => Promise<void>),
): Promise<void> {
  const target = resolve(path);
  const staging = siblingName(target, 'tmp');
  try {
    await mkdir(staging, { mode: 0o777 });
    if (typeof contents === 'function') {
      await contents(staging);
    } else {
      for (const [name, data] of Object.entries(contents)) {
        checkRelative(name);
        const file = join(staging, ...name.split(/[\\/]/));
        await mkdir(dirname(file), { recursive: true });
        await writeAndSync(file, data, 0o666);
      }
    }
    await syncTree(staging);
  } catch (e) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw e;
  }

  let aside: string | undefined;
  try {
    const st = await stat(target).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (st !== undefined) {
      if (!st.isDirectory()) throw new Error(`writeDirAtomic: ${target} exists and is not a folder`);
      aside = siblingName(target, 'old');
      await rename(target, aside);
    }
    try {
      await rename(staging, target);
    } catch (e) {
      const prev = aside;
      aside = undefined;
      if (prev !== undefined) {
        try {
          await rename(prev, target);
        } catch {
          throw new Error(`writeDirAtomic: could not install ${target}; the previous version is kept at ${prev}`, { cause: e });
        }
      }
      throw e;
    }
  } catch (e) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  await fsyncDir(dirname(target));
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
}

/** True for a base name this module uses for temporary siblings (for cleanup tools). */
export function isAtomicTempName(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{12}\.(tmp|old)$/.test(name);
}
