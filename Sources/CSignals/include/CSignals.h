#ifndef C_SIGNALS_H
#define C_SIGNALS_H
// What a command does when Ctrl-C, SIGTERM or SIGHUP ends it, written in C.
//
// A signal handler may call only async-signal-safe functions: no malloc. A handler written in
// Swift can allocate without saying so: in a debug build, iterating an array instantiates its
// iterator's type metadata on first use, which mallocs; interrupting the main thread inside
// malloc, that ended in glibc's "malloc assertion failure in sysmalloc" and SIGABRT (about one
// `export --output` in forty, stopped with Ctrl-C), leaving the partial file it was to remove.
// These handlers call unlink, write, signal, raise and _exit only, on copies made beforehand.
//
// A signal the process was started with ignored stays ignored: `nohup enroll import …` is not
// ended by the SIGHUP of a closed terminal, nor a background job of a script by Ctrl-C.

// When SIGINT, SIGTERM or SIGHUP arrives: removes up to 8 files, writes `to_stdout` (may be
// NULL) to standard output and `to_stderr` (may be NULL) to standard error, then ends the
// process as the signal says. A later call replaces the files and messages. The signals are
// unblocked on the calling thread (a parent may hand them down blocked: they would wait,
// pending, until the command ended). Returns 0, or -1 when there are more than 8 paths or no
// memory for the copies.
int enroll_remove_on_signal(const char *const *paths, int count, const char *to_stdout, const char *to_stderr);

// The three signals as the process was started with them again (once the work a handler
// speaks for is done, and its message would no longer be true).
void enroll_default_on_signal(void);

// On SIGINT or SIGTERM, writes `to_stdout` (may be NULL) to standard output and `to_stderr` to
// standard error, then exits with 128 + the signal's number. Unblocks the two signals as above.
// Returns 0, or -1 when there is no memory for the copies.
int enroll_exit_on_signal(const char *to_stdout, const char *to_stderr);

// Keeps the process's memory (the master key, open secrets) out of core files and away from
// other processes of the same account: no core file (RLIMIT_CORE 0), and not dumpable
// (PR_SET_DUMPABLE 0: no core, and no ptrace or /proc/PID/mem by anyone but root), as
// ssh-agent does. prctl is variadic, which Swift cannot call. Returns 0, or -1 if either failed.
int enroll_keep_memory_private(void);

// A write past a file size limit (`ulimit -f`, systemd's LimitFSIZE=) fails with EFBIG, which
// the commands report (io_error, exit 3) and clean up after, instead of SIGXFSZ ending the
// process silently with a file half written.
void enroll_fail_writes_past_size_limit(void);

#endif
