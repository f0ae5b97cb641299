#include "CSignals.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_PATHS = 8 };

static char *removed[MAX_PATHS];
static volatile sig_atomic_t removed_count = 0;

static char *exit_stdout = NULL, *exit_stderr = NULL;

static void write_all(int fd, const char *text) {
    if (text == NULL) return;
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t written = write(fd, text, left);
        if (written <= 0) return;
        text += written;
        left -= (size_t)written;
    }
}

static void remove_then_end(int received) {
    for (sig_atomic_t index = 0; index < removed_count; index++) unlink(removed[index]);
    signal(received, SIG_DFL);
    raise(received);  // blocked until this handler returns, then ends the process
}

static void report_then_exit(int received) {
    write_all(STDOUT_FILENO, exit_stdout);
    write_all(STDERR_FILENO, exit_stderr);
    _exit(128 + received);
}

// Installs `handler` for `signals`, each blocking the others while it runs, and unblocks them.
static void install(const int *signals, int count, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigset_t set;
    sigemptyset(&set);
    for (int index = 0; index < count; index++) sigaddset(&set, signals[index]);
    action.sa_mask = set;
    for (int index = 0; index < count; index++) sigaction(signals[index], &action, NULL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static const int ending[] = {SIGINT, SIGTERM, SIGHUP};

int enroll_remove_on_signal(const char *const *paths, int count) {
    if (count < 0 || count > MAX_PATHS) return -1;
    char *copies[MAX_PATHS];
    for (int index = 0; index < count; index++) {
        copies[index] = strdup(paths[index]);
        if (copies[index] == NULL) {
            while (index-- > 0) free(copies[index]);
            return -1;
        }
    }
    // A handler (on this thread or another) must never see the list half replaced: it reads
    // none while the count is 0. An earlier list is not freed, in case one still reads it.
    removed_count = 0;
    for (int index = 0; index < MAX_PATHS; index++) removed[index] = index < count ? copies[index] : NULL;
    removed_count = count;
    install(ending, 3, remove_then_end);
    return 0;
}

int enroll_exit_on_signal(const char *to_stdout, const char *to_stderr) {
    char *out = to_stdout ? strdup(to_stdout) : NULL, *err = to_stderr ? strdup(to_stderr) : NULL;
    if ((to_stdout && out == NULL) || (to_stderr && err == NULL)) {
        free(out);
        free(err);
        return -1;
    }
    exit_stdout = out;
    exit_stderr = err;
    install(ending, 2, report_then_exit);
    return 0;
}
