/**
 * Keeping a dataset inside its folder. Annotation files and image folders often come from
 * strangers; an entry such as `../../.ssh/id_rsa.png`, `/etc/passwd.png` or a symlink out of the
 * folder must not make the tool read the user's other files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './errors';

/** The option every dataset reader takes. */
export interface ContainmentOptions {
  /**
   * Accept entries and symlinks that resolve outside the dataset's root (default false). For
   * datasets whose files are symlinks into a shared store (git-annex, DVC's symlink cache, a
   * folder linked to another disk); only for datasets you trust.
   */
  allowOutsideRoot?: boolean;
}

const HINT =
  'Entries must stay inside the dataset folder; if the dataset is yours and links to files elsewhere on purpose, pass allowOutsideRoot (CLI: --allow-outside-root).';

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel));
}

/** Real path of `p`, or null if it does not exist (yet); other errors propagate as null too. */
function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return null;
  }
}

/**
 * Resolves an entry of a dataset (a COCO `file_name`, a VOC `<filename>` or split id) against
 * `root` and checks that the result stays inside `root`, also after following symlinks.
 *
 * Backslashes count as separators, as in a dataset written on Windows (`sub\a.png`,
 * `..\x.png`); a drive letter (`C:`) or a leading separator makes the entry absolute.
 *
 * @param source the reader, for the error message (e.g. `loadCocoDataset`).
 * @param file the annotation file that holds the entry, named in the error.
 * @param what how the entry is called in that file, e.g. `images[3].file_name`.
 * @returns the absolute path of the entry (symlinks not resolved, so messages show the
 *   dataset's own names).
 * @throws DataError naming `file`, `what` and the entry when it leaves `root`.
 */
export function resolveInsideRoot(
  source: string,
  file: string,
  root: string,
  entry: string,
  what: string,
  options: ContainmentOptions = {},
): string {
  const normalised = entry.replace(/\\/g, '/');
  const absolute = /^[A-Za-z]:/.test(normalised) || normalised.startsWith('/');
  const resolved = path.resolve(root, normalised);
  if (options.allowOutsideRoot) return resolved;
  if (absolute || !isInside(path.resolve(root), resolved)) {
    throw new DataError(
      source,
      file,
      `${what} '${entry}' ${absolute ? 'is an absolute path' : 'resolves to ' + resolved}, outside the dataset folder ${path.resolve(root)}.`,
      HINT,
    );
  }
  checkRealPathInside(source, file, root, resolved, `${what} '${entry}'`);
  return resolved;
}

/**
 * Checks that `target` (inside `root` by name) does not leave `root` through a symlink. A target
 * that does not exist passes (it is reported as missing when read).
 */
export function checkRealPathInside(source: string, file: string, root: string, target: string, what: string, options: ContainmentOptions = {}): void {
  if (options.allowOutsideRoot) return;
  const real = realpathOrNull(target);
  if (real === null) return;
  const realRoot = realpathOrNull(root) ?? path.resolve(root);
  if (!isInside(realRoot, real)) {
    throw new DataError(source, file, `${what} is a symlink to ${real}, outside the dataset folder ${realRoot}.`, HINT);
  }
}
