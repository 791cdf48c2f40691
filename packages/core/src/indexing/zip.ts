/**
 * Reading zip archives entry by entry, for the indexer's walk and for serving a member. Names are
 * decoded here rather than by yauzl: yauzl stops the whole archive at the first member whose name
 * it finds unsafe (`../x.jpg`, `/x.jpg`), where fever only wants to refuse that one member.
 */
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

/**
 * Opens a zip by path, or by an open file descriptor: close() of such a zip closes the descriptor,
 * so a caller that owns the descriptor leaves the zip unclosed.
 */
export function openZip(source: string | number): Promise<yauzl.ZipFile> {
  const options: yauzl.Options = {
    lazyEntries: true,
    autoClose: false,
    validateEntrySizes: true,
    decodeStrings: false,
  };
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, zip: yauzl.ZipFile) => (err ? reject(err) : resolve(zip));
    if (typeof source === 'number') yauzl.fromFd(source, options, done);
    else yauzl.open(source, options, done);
  });
}

/** The next entry, or null at the end. */
export function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const onEntry = (entry: yauzl.Entry) => {
      off();
      resolve(entry);
    };
    const onEnd = () => {
      off();
      resolve(null);
    };
    const onError = (err: Error) => {
      off();
      reject(err);
    };
    const off = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/** The member's name as the archive's writer meant it (UTF-8 flag, Info-ZIP unicode path, CP437). */
export function memberName(entry: yauzl.Entry): string {
  return yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
}

/** Why a member name could not be extracted safely (absolute, `..`, backslash), or undefined. */
export function unsafeMemberName(name: string): string | undefined {
  return yauzl.validateFileName(name) ?? undefined;
}

export function openMemberStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))),
  );
}
