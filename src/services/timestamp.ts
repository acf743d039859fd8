export { fromTimestamp, toTimestamp } from '../core/time/index.js';
