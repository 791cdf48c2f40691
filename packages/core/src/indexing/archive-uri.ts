/**
 * How fever names an archive member: `<archive path>!/<member name>`. The walk writes it (the
 * entry's uri, stored as the image's uri) and the API reads it back to serve the member.
 */
import { stat } from 'node:fs/promises';

export function memberUri(archive: string, member: string): string {
  return `${archive}!/${member}`;
}

/**
 * The archive and member a stored path names, or undefined for a plain file. A `!` that ends the
 * name of a folder is not the separator: `/photos!/a.jpg` is the file a.jpg in the folder `photos!`.
 */
export async function splitMemberUri(path: string): Promise<{ archive: string; member: string } | undefined> {
  for (let at = path.indexOf('!/'); at > 0; at = path.indexOf('!/', at + 2)) {
    const folder = await stat(path.slice(0, at + 1)).catch(() => undefined);
    if (!folder?.isDirectory()) return { archive: path.slice(0, at), member: path.slice(at + 2) };
  }
  return undefined;
}
