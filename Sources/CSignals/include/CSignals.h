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

// Up to 8 files removed when SIGINT, SIGTERM or SIGHUP arrives; the process then ends as the
// signal says. A later call replaces the list. The three signals are unblocked on the calling
// thread (a parent may hand them down blocked: they would wait, pending, until the command
// ended). Returns 0, or -1 when there are more than 8 paths or no memory for their copies.
int enroll_remove_on_signal(const char *const *paths, int count);

// On SIGINT or SIGTERM, writes `to_stdout` (may be NULL) to standard output and `to_stderr` to
// standard error, then exits with 128 + the signal's number. Unblocks the two signals as above.
// Returns 0, or -1 when there is no memory for the copies.
int enroll_exit_on_signal(const char *to_stdout, const char *to_stderr);

#endif
