#include "CSignals.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

enum { MAX_PATHS = 8 };

static char *removed[MAX_PATHS];
static volatile sig_atomic_t removed_count = 0;

static char *removed_stdout = NULL, *removed_stderr = NULL;
static char *exit_stdout = NULL, *exit_stderr = NULL;

static const int ending[] = {SIGINT, SIGTERM, SIGHUP};
enum { ENDING = 3 };
// Whether each of `ending` was ignored when the process started (read before the first install).
static int started_ignored[ENDING];
static int dispositions_read = 0;

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
    write_all(STDOUT_FILENO, removed_stdout);
    write_all(STDERR_FILENO, removed_stderr);
    signal(received, SIG_DFL);
    raise(received);  // blocked until this handler returns, then ends the process
}

static void report_then_exit(int received) {
    write_all(STDOUT_FILENO, exit_stdout);
    write_all(STDERR_FILENO, exit_stderr);
    _exit(128 + received);
}

static void read_dispositions(void) {
    if (dispositions_read) return;
    for (int index = 0; index < ENDING; index++) {
        struct sigaction current;
        started_ignored[index] = sigaction(ending[index], NULL, &current) == 0 && current.sa_handler == SIG_IGN;
    }
    dispositions_read = 1;
}

// Installs `handler` for the first `count` of `ending`, each blocking the others while it runs,
// and unblocks them; one the process was started with ignored stays ignored.
static void install(int count, void (*handler)(int)) {
    read_dispositions();
    const int *signals = ending;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigset_t set;
    sigemptyset(&set);
    for (int index = 0; index < count; index++) sigaddset(&set, signals[index]);
    action.sa_mask = set;
    for (int index = 0; index < count; index++) {
        if (!started_ignored[index]) sigaction(signals[index], &action, NULL);
    }
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void enroll_default_on_signal(void) {
    read_dispositions();
    for (int index = 0; index < ENDING; index++) signal(ending[index], started_ignored[index] ? SIG_IGN : SIG_DFL);
}

int enroll_remove_on_signal(const char *const *paths, int count, const char *to_stdout, const char *to_stderr) {
    if (count < 0 || count > MAX_PATHS) return -1;
    char *copies[MAX_PATHS];
    char *out = to_stdout ? strdup(to_stdout) : NULL, *err = to_stderr ? strdup(to_stderr) : NULL;
    int failed = (to_stdout && out == NULL) || (to_stderr && err == NULL);
    int made = 0;
    for (; made < count && !failed; made++) {
        copies[made] = strdup(paths[made]);
        if (copies[made] == NULL) failed = 1;
    }
    if (failed) {
        while (made-- > 0) free(copies[made]);
        free(out);
        free(err);
        return -1;
    }
    // The handlers are held off while the list and messages are replaced, so that none sees
    // them half replaced. What they replace is not freed, in case a handler still reads it.
    sigset_t held, before;
    sigemptyset(&held);
    for (int index = 0; index < ENDING; index++) sigaddset(&held, ending[index]);
    pthread_sigmask(SIG_BLOCK, &held, &before);
    removed_count = 0;
    for (int index = 0; index < MAX_PATHS; index++) removed[index] = index < count ? copies[index] : NULL;
    removed_count = count;
    removed_stdout = out;
    removed_stderr = err;
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    install(ENDING, remove_then_end);
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
    install(2, report_then_exit);
    return 0;
}

int enroll_keep_memory_private(void) {
    struct rlimit none = {0, 0};
    int result = setrlimit(RLIMIT_CORE, &none);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) result = -1;
    return result;
}

void enroll_fail_writes_past_size_limit(void) {
    signal(SIGXFSZ, SIG_IGN);
}
