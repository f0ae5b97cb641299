#ifndef C_SQLITE_CONFIG_SHIM_H
#define C_SQLITE_CONFIG_SHIM_H
#include <sqlite3.h>

/// sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0): sqlite3_config is variadic, which Swift cannot
/// call. Only before SQLite initializes (the first connection opened in the process); later it
/// returns SQLITE_MISUSE and changes nothing.
static inline int enroll_sqlite_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
