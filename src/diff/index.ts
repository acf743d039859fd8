/**
 * @module
 * The walking differ (`io.containerd.differ.v1` `walking`): Apply unpacks a
 * layer into mounts through a worker thread, every path contained by a
 * RootFs; Compare writes the difference of two mounts as a layer blob.
 */
export { WalkingApplier, type WalkingApplierOptions } from './apply.js';
export { WalkingComparer, type WalkingComparerOptions } from './compare.js';
