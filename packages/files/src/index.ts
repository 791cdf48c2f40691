/** How fever touches files safely: paths confined to allowed folders, and one-process locks. */
export {
  type Confined,
  confine,
  isWithin,
  type OpenedWithin,
  openWithin,
  realPathOf,
  realRoots,
} from './confine.ts';
export {
  acquireProcessLock,
  type HeldLock,
  isTagAlive,
  type LockHolder,
  type LockOptions,
  processTag,
} from './lock.ts';
