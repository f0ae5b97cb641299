import GRDB

/// The journal's schema: its migrations, oldest first, and what reads them.
extension EnrollmentDatabase {
    /// The newest journal schema this code writes: its last migration.
    public static var currentSchema: String { migrationIdentifiers.last ?? "" }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.identifier, migrate: migration.migrate)
        }
        return migrator
    }()

    /// The identifiers of ``migrations``, oldest first: what `enroll status`'s quick read
    /// compares with the applied ones without building ``migrator`` (GRDB's registration
    /// instantiates generic metadata, ~3% of that whole process).
    static let migrationIdentifiers = migrations.map { $0.identifier }

    /// The journal's schema, one migration at a time, oldest first; ``migrator`` runs them.
    private static let migrations: [(identifier: String, migrate: @Sendable (Database) throws -> Void)] = [
        ("v1-journal", { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    position INTEGER PRIMARY KEY,
                    stream_id TEXT NOT NULL,
                    stream_version INTEGER NOT NULL,
                    event_id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    schema_version INTEGER NOT NULL,
                    data TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    UNIQUE (stream_id, stream_version)
                );
                CREATE INDEX events_recorded_at ON events(recorded_at);
                CREATE TABLE commands (
                    command_id TEXT PRIMARY KEY,
                    stream_id TEXT NOT NULL,
                    stream_version INTEGER NOT NULL,
                    command TEXT NOT NULL,
                    rejection TEXT,
                    handled_at INTEGER NOT NULL
                );
                CREATE TABLE data_keys (
                    stream_id TEXT PRIMARY KEY,
                    wrapped_key BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE key_check (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    key_id BLOB NOT NULL
                );
                CREATE TABLE projection_checkpoints (
                    name TEXT PRIMARY KEY,
                    schema_version INTEGER NOT NULL,
                    position INTEGER NOT NULL
                );
                """)
        }),
        // Fewer B-trees touched per command (each is at least one 4 KiB page in the WAL, and at
        // synchronous=FULL in the fsync): `event_id` loses its UNIQUE index (ids are 122 random
        // bits from RAND_bytes, covered by the hash chain, and nothing looks events up by id),
        // `recorded_at` loses its index (audit's --since/--until filter while reading in position
        // order), and the keyed tables become WITHOUT ROWID (one B-tree instead of a table plus
        // its key's index). Rows, positions and hashes are copied unchanged: `verify` still passes.
        ("v2-lean-journal", { db in
            try db.execute(sql: """
                CREATE TABLE events_v2 (
                    position INTEGER PRIMARY KEY,
                    stream_id TEXT NOT NULL,
                    stream_version INTEGER NOT NULL,
                    event_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    schema_version INTEGER NOT NULL,
                    data TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    UNIQUE (stream_id, stream_version)
                );
                INSERT INTO events_v2 SELECT position, stream_id, stream_version, event_id, type, schema_version,
                    data, metadata, recorded_at, hash FROM events ORDER BY position;
                """)
            // The old tables' rows live on, unchanged, in the new ones: zeroing their pages would
            // hide nothing (and held a 1M-event journal's whole table in memory, ~400 MB).
            try db.dropTableWithoutZeroing("events")
            try db.execute(sql: """
                ALTER TABLE events_v2 RENAME TO events;
                CREATE TABLE commands_v2 (
                    command_id TEXT PRIMARY KEY,
                    stream_id TEXT NOT NULL,
                    stream_version INTEGER NOT NULL,
                    command TEXT NOT NULL,
                    rejection TEXT,
                    handled_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO commands_v2 SELECT command_id, stream_id, stream_version, command, rejection, handled_at FROM commands;
                """)
            try db.dropTableWithoutZeroing("commands")
            // Except the data keys: a key destroyed later must not survive in the old table's
            // free pages, so that one is dropped with its pages zeroed.
            try db.execute(sql: """
                ALTER TABLE commands_v2 RENAME TO commands;
                CREATE TABLE data_keys_v2 (
                    stream_id TEXT PRIMARY KEY,
                    wrapped_key BLOB NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO data_keys_v2 SELECT stream_id, wrapped_key, created_at FROM data_keys;
                DROP TABLE data_keys;
                ALTER TABLE data_keys_v2 RENAME TO data_keys;
                CREATE TABLE projection_checkpoints_v2 (
                    name TEXT PRIMARY KEY,
                    schema_version INTEGER NOT NULL,
                    position INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO projection_checkpoints_v2 SELECT name, schema_version, position FROM projection_checkpoints;
                DROP TABLE projection_checkpoints;
                ALTER TABLE projection_checkpoints_v2 RENAME TO projection_checkpoints;
                """)
        }),
        // What a command was asked, as a MAC under the master key (``KeyRing/argumentsMAC(of:)``),
        // so that a command id retried with other arguments (another code, other settings) is
        // refused instead of answered with the first outcome. Rows from before stay NULL: their
        // retries are not compared, as before.
        // These two check what is there first: a row of grdb_migrations deleted by hand must not
        // make every command fail on a column or table that already exists.
        ("v3-command-arguments", { db in
            guard try !db.columns(in: "commands").contains(where: { $0.name == "arguments_mac" }) else { return }
            try db.execute(sql: "ALTER TABLE commands ADD COLUMN arguments_mac BLOB")
        }),
        // What happened to the master key (``KeyHistory``): no user's event, so a table of its own.
        (KeyHistory.migration, { db in
            guard try !db.tableExists(KeyHistory.table) else { return }
            try db.execute(sql: KeyHistory.createSQL)
        }),
    ]
}
