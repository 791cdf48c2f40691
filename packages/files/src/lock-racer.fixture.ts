/**
 * A process that races for a lock when its parent says so, many rounds: it reports whether it
 * got the lock, and while holding it checks that it is alone (an O_EXCL marker file).
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { acquireProcessLock } from './lock.ts';

const [lockPath, marker] = process.argv.slice(2) as [string, string];
const send = (message: unknown) => process.send!(message);

process.on('message', (round: number) => {
  try {
    acquireProcessLock(lockPath, () => new Error('held'));
  } catch {
    send({ round, held: false, overlap: false });
    return;
  }
  let overlap = false;
  try {
    writeFileSync(marker, String(process.pid), { flag: 'wx' });
  } catch {
    overlap = true;
  }
  // Hold it a while, as a real holder would, so that any second holder meets the marker.
  const until = Date.now() + 15;
  while (Date.now() < until) {}
  if (!overlap) unlinkSync(marker);
  // A holder killed without releasing leaves its claim and the lock file: the next round's stale lock.
  send({ round, held: true, overlap });
});
send('ready');
