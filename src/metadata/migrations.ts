import type { Migration } from '../sys/sqlite.js';

export type { Migration } from '../sys/sqlite.js';

/**
 * The metadata schema's migrations ({@link Migration}: one transaction
 * each, version in `user_version`, append only).
 *
 * Every resource table is keyed by namespace and references `namespaces`
 * without cascade, so a namespace cannot be dropped while it holds anything.
 * Labels are JSON objects; timestamps are nanoseconds since the epoch.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'namespaces, images, containers, content, leases, snapshots',
    up(db) {
      db.exec(`
        CREATE TABLE namespaces (
          name       TEXT PRIMARY KEY,
          labels     TEXT NOT NULL DEFAULT '{}',
          created_at INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE images (
          namespace         TEXT NOT NULL REFERENCES namespaces(name),
          name              TEXT NOT NULL,
          target_media_type TEXT NOT NULL,
          target_digest     TEXT NOT NULL,
          target_size       INTEGER NOT NULL,
          target_annotations TEXT NOT NULL DEFAULT '{}',
          labels            TEXT NOT NULL DEFAULT '{}',
          created_at        INTEGER NOT NULL,
          updated_at        INTEGER NOT NULL,
          PRIMARY KEY (namespace, name)
        ) STRICT;

        CREATE TABLE containers (
          namespace    TEXT NOT NULL REFERENCES namespaces(name),
          id           TEXT NOT NULL,
          image        TEXT NOT NULL DEFAULT '',
          runtime_name TEXT NOT NULL DEFAULT '',
          runtime_options BLOB,
          spec         BLOB,
          snapshotter  TEXT NOT NULL DEFAULT '',
          snapshot_key TEXT NOT NULL DEFAULT '',
          sandbox      TEXT NOT NULL DEFAULT '',
          extensions   BLOB,
          labels       TEXT NOT NULL DEFAULT '{}',
          created_at   INTEGER NOT NULL,
          updated_at   INTEGER NOT NULL,
          PRIMARY KEY (namespace, id)
        ) STRICT;

        CREATE TABLE content_blobs (
          namespace  TEXT NOT NULL REFERENCES namespaces(name),
          digest     TEXT NOT NULL,
          size       INTEGER NOT NULL,
          labels     TEXT NOT NULL DEFAULT '{}',
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (namespace, digest)
        ) STRICT;

        CREATE TABLE content_ingests (
          namespace  TEXT NOT NULL REFERENCES namespaces(name),
          ref        TEXT NOT NULL,
          expected   TEXT NOT NULL DEFAULT '',
          expires_at INTEGER,
          PRIMARY KEY (namespace, ref)
        ) STRICT;

        CREATE TABLE leases (
          namespace  TEXT NOT NULL REFERENCES namespaces(name),
          id         TEXT NOT NULL,
          labels     TEXT NOT NULL DEFAULT '{}',
          created_at INTEGER NOT NULL,
          PRIMARY KEY (namespace, id)
        ) STRICT;

        CREATE TABLE lease_resources (
          namespace TEXT NOT NULL,
          lease     TEXT NOT NULL,
          type      TEXT NOT NULL,
          id        TEXT NOT NULL,
          PRIMARY KEY (namespace, lease, type, id),
          FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
        ) STRICT;

        CREATE TABLE snapshots (
          namespace   TEXT NOT NULL REFERENCES namespaces(name),
          snapshotter TEXT NOT NULL,
          key         TEXT NOT NULL,
          backend_id  TEXT NOT NULL,
          parent      TEXT NOT NULL DEFAULT '',
          kind        TEXT NOT NULL,
          labels      TEXT NOT NULL DEFAULT '{}',
          created_at  INTEGER NOT NULL,
          updated_at  INTEGER NOT NULL,
          PRIMARY KEY (namespace, snapshotter, key)
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    description: 'snapshot backend key sequences; snapshot parent and backend indexes',
    up(db) {
      // No reference to namespaces: the sequence outlives a deleted
      // namespace, so backend keys are never reused.
      db.exec(`
        CREATE TABLE snapshot_sequences (
          namespace   TEXT NOT NULL,
          snapshotter TEXT NOT NULL,
          seq         INTEGER NOT NULL,
          PRIMARY KEY (namespace, snapshotter)
        ) STRICT;

        CREATE INDEX snapshots_parent ON snapshots (namespace, snapshotter, parent);
        CREATE UNIQUE INDEX snapshots_backend ON snapshots (snapshotter, backend_id);
      `);
    },
  },
  {
    version: 3,
    description: 'container Any type URLs; container extensions',
    up(db) {
      // runtime_options and spec hold an Any's bytes; these hold its type
      // URL (NULL options type: no options). Extensions get their own rows,
      // so migration 1's `extensions` column stays NULL.
      db.exec(`
        ALTER TABLE containers ADD COLUMN runtime_options_type TEXT;
        ALTER TABLE containers ADD COLUMN spec_type TEXT;

        CREATE TABLE container_extensions (
          namespace TEXT NOT NULL,
          container TEXT NOT NULL,
          name      TEXT NOT NULL,
          type_url  TEXT NOT NULL,
          value     BLOB NOT NULL,
          PRIMARY KEY (namespace, container, name),
          FOREIGN KEY (namespace, container) REFERENCES containers(namespace, id) ON DELETE CASCADE
        ) STRICT;
      `);
    },
  },
  {
    version: 4,
    description:
      'snapshot unpack targets; a backend snapshot may be recorded in several namespaces',
    up(db) {
      // `target` is the name an unpack committed the snapshot as (its chain
      // ID; '' for any other snapshot): another namespace unpacking the same
      // layer on the same parent records this backend snapshot instead of
      // extracting it again, so backend keys are no longer unique.
      db.exec(`
        ALTER TABLE snapshots ADD COLUMN target TEXT NOT NULL DEFAULT '';

        DROP INDEX snapshots_backend;
        CREATE INDEX snapshots_backend ON snapshots (snapshotter, backend_id);
        CREATE INDEX snapshots_target ON snapshots (snapshotter, target) WHERE target != '';
      `);
    },
  },
];

/**
 * The tables whose rows keep a namespace from being deleted, with the word
 * used in the error (containerd's). Snapshots are named per snapshotter.
 * Leases and ingests do not block deletion; they go with the namespace.
 */
export const NAMESPACED_RESOURCES: readonly { table: string; noun: string }[] = [
  { table: 'images', noun: 'images' },
  { table: 'content_blobs', noun: 'blobs' },
  { table: 'containers', noun: 'containers' },
];
