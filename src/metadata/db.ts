import { SqliteDB } from '../sys/sqlite.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export interface MetadataDBOptions {
  /** Path of the database file; its directory is created (0700). */
  path: string;
  /** Overridable for migration tests. */
  migrations?: readonly Migration[];
}

/**
 * The SQLite database behind every metadata store ({@link SqliteDB}: WAL,
 * full fsync, foreign keys), with the metadata schema ({@link MIGRATIONS}).
 */
export class MetadataDB extends SqliteDB {
  constructor(opts: MetadataDBOptions) {
    super({ path: opts.path, migrations: opts.migrations ?? MIGRATIONS, what: 'metadata schema' });
  }
}
