// How the number of B-tree pages a transaction writes bounds its commits per second, with no
// engine around it: the reason one writer cannot reach 0.7x raw single-row inserts at
// synchronous=FULL, nor 0.4x at NORMAL (BENCHMARKS.md, "Where the goals stand"). Not part of the
// benchmark.
//
// Each transaction inserts one event-shaped row into a journal-like table (its leaf and its
// unique index's: 2 pages, what ../shared/peers/raw_sqlite.c writes) and one small row into each
// of PAGES - 2 other tables (one page each: a command writes 6-7 pages). The first WARM
// transactions are not timed, so that the log has reached the size at which it starts over
// (8000 pages, as the engine sets wal_autocheckpoint) and is written in place afterwards.
//
//   cc -O2 -o /tmp/pages-per-commit Tools/experiments/pages-per-commit.c -lsqlite3 -lpthread
//   /tmp/pages-per-commit /tmp/pages.db 5000 2 2 8000 5000   # DB ROWS PAGES SYNCHRONOUS(1|2) AUTOCHECKPOINT WARM
//   /tmp/pages-per-commit /tmp/pages.db 5000 7 2 8000 5000
//   /tmp/pages-per-commit /tmp/pages.db 20000 7 1 8000 5000  # NORMAL: SQLite checkpoints inline
//   /tmp/pages-per-commit /tmp/pages.db 20000 7 1 8000 5000 1  # NORMAL, checkpoints on a thread
//
// With a seventh argument of 1, checkpoints run as the engine's LogCheckpointer runs them at
// NORMAL: every 1000 log pages a commit wakes a thread of its own, whose own connection makes a
// PASSIVE checkpoint while the writer goes on; at AUTOCHECKPOINT pages the writer checkpoints
// itself (so that the log can start over).
//
// Prints one JSON object with the timed transactions' commits per second.
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void must(int rc, sqlite3 *db) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "pages-per-commit: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
}

// The checkpoint thread (seventh argument 1): its connection, and the writer's request.
static sqlite3 *checkpointer;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int requested, finished, backstop, next_step = 1000, last_frames;

static void *checkpoint_loop(void *unused) {
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!requested && !finished) pthread_cond_wait(&wake, &lock);
        if (finished) break;
        pthread_mutex_unlock(&lock);
        sqlite3_wal_checkpoint_v2(checkpointer, "main", SQLITE_CHECKPOINT_PASSIVE, 0, 0);
        pthread_mutex_lock(&lock);
        requested = 0;
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

// After each of the writer's commits, with the log's size in pages (LogCheckpointer.committed).
static int committed(void *unused, sqlite3 *db, const char *name, int frames) {
    (void)unused;
    if (frames < last_frames) next_step = 1000;
    last_frames = frames;
    if (frames >= backstop) {
        sqlite3_wal_checkpoint(db, name);
    } else if (frames >= next_step) {
        next_step = frames + 1000;
        pthread_mutex_lock(&lock);
        requested = 1;
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
    }
    return SQLITE_OK;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s DB ROWS PAGES(2-16) SYNCHRONOUS(1 NORMAL, 2 FULL) AUTOCHECKPOINT WARM [THREAD(0|1)]\n", argv[0]);
        return 2;
    }
    int threaded = argc > 7 ? atoi(argv[7]) : 0;
    const char *path = argv[1];
    long rows = atol(argv[2]), warm = atol(argv[6]);
    int pages = atoi(argv[3]), synchronous = atoi(argv[4]), autocheckpoint = atoi(argv[5]);
    if (rows < 1 || pages < 2 || pages > 16 || warm < 0 || (synchronous != 1 && synchronous != 2) || autocheckpoint < 1 || (threaded != 0 && threaded != 1)) {
        fprintf(stderr, "pages-per-commit: ROWS must be at least 1, PAGES 2 to 16, SYNCHRONOUS 1 or 2, AUTOCHECKPOINT at least 1, WARM 0 or more, THREAD 0 or 1\n");
        return 2;
    }
    char sql[512];
    unlink(path);
    snprintf(sql, sizeof sql, "%s-wal", path); unlink(sql);
    snprintf(sql, sizeof sql, "%s-shm", path); unlink(sql);
    sqlite3 *db;
    must(sqlite3_open(path, &db), db);
    must(sqlite3_exec(db, "PRAGMA journal_mode=WAL", 0, 0, 0), db);
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%d", synchronous);
    must(sqlite3_exec(db, sql, 0, 0, 0), db);
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%d", autocheckpoint);
    must(sqlite3_exec(db, sql, 0, 0, 0), db);
    must(sqlite3_exec(db,
        "CREATE TABLE events(position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL,"
        " stream_version INTEGER NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL,"
        " metadata BLOB, recorded_at INTEGER NOT NULL, UNIQUE(stream_id, stream_version))", 0, 0, 0), db);
    sqlite3_stmt *append, *others[16];
    must(sqlite3_prepare_v2(db,
        "INSERT INTO events(stream_id, stream_version, type, data, metadata, recorded_at) VALUES(?, ?, ?, ?, ?, ?)",
        -1, &append, 0), db);
    for (int table = 0; table < pages - 2; table++) {
        snprintf(sql, sizeof sql, "CREATE TABLE other%d(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID", table);
        must(sqlite3_exec(db, sql, 0, 0, 0), db);
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO other%d VALUES(?, ?)", table);
        must(sqlite3_prepare_v2(db, sql, -1, &others[table], 0), db);
    }
    const char *data = "{\"sealedSecret\":\"q3J0cW9yZ2V0aGlzaXNhc2VhbGVkc2VjcmV0MDAwMDAwMDAwMA==\","
                       "\"algorithm\":\"SHA1\",\"digits\":6,\"period\":30}";
    char stream[32], value[100];
    memset(value, 'x', sizeof value);
    pthread_t thread;
    if (threaded) {
        must(sqlite3_open(path, &checkpointer), checkpointer);
        must(sqlite3_exec(checkpointer, "PRAGMA synchronous=NORMAL", 0, 0, 0), checkpointer);
        backstop = autocheckpoint;
        sqlite3_wal_hook(db, committed, 0);  // replaces SQLite's automatic checkpoint
        if (pthread_create(&thread, 0, checkpoint_loop, 0) != 0) {
            fprintf(stderr, "pages-per-commit: cannot start the checkpoint thread\n");
            return 1;
        }
    }
    double start = now();
    for (long i = 0; i < warm + rows; i++) {
        if (i == warm) start = now();
        must(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db);
        // Users in a scattered order, as commands come: each row lands in some page of its table.
        snprintf(stream, sizeof stream, "user-%06ld", (i * 7919) % 10000);
        sqlite3_bind_text(append, 1, stream, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(append, 2, i);
        sqlite3_bind_text(append, 3, "EnrollmentRequested", -1, SQLITE_STATIC);
        sqlite3_bind_blob(append, 4, data, (int)strlen(data), SQLITE_STATIC);
        sqlite3_bind_null(append, 5);
        sqlite3_bind_int64(append, 6, 1700000000 + i);
        must(sqlite3_step(append), db);
        sqlite3_reset(append);
        for (int table = 0; table < pages - 2; table++) {
            sqlite3_bind_text(others[table], 1, stream, -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(others[table], 2, value, sizeof value, SQLITE_STATIC);
            must(sqlite3_step(others[table]), db);
            sqlite3_reset(others[table]);
        }
        must(sqlite3_exec(db, "COMMIT", 0, 0, 0), db);
    }
    double elapsed = now() - start;
    printf("{\"pages\":%d,\"synchronous\":%d,\"autocheckpoint\":%d,\"thread\":%d,\"commits_per_s\":%.0f}\n",
           pages, synchronous, autocheckpoint, threaded, rows / elapsed);
    if (threaded) {
        pthread_mutex_lock(&lock);
        finished = 1;
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
        pthread_join(thread, 0);
        sqlite3_close(checkpointer);
    }
    sqlite3_close(db);
    return 0;
}
