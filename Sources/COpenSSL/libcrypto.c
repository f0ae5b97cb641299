// Loads libcrypto.so.3 on first use and forwards the `enroll_` functions to it (COpenSSL.h says
// why). Each function is looked up at the symbol version OpenSSL 3's functions carry, as the
// dynamic loader binds them, and its type is checked against OpenSSL's own declaration.
#define _GNU_SOURCE
#include "COpenSSL.h"

#include <dlfcn.h>
#include <errno.h> // program_invocation_short_name
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

// The wrappers' types are OpenSSL's: a parameter list copied wrongly does not compile.
#define CHECK_TYPE(name, result, parameters, arguments) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&enroll_##name), __typeof__(&name)), #name " is declared as in OpenSSL");
ENROLL_LIBCRYPTO_FUNCTIONS(CHECK_TYPE)
#undef CHECK_TYPE

static struct {
#define POINTER(name, result, parameters, arguments) __typeof__(&name) name;
    ENROLL_LIBCRYPTO_FUNCTIONS(POINTER)
#undef POINTER
} functions;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded; // read with acquire after `once` ran: every pointer is set

/// The library name and symbol version a program built with these headers links against.
static const char library[] = "libcrypto.so.3";
static const char version[] = "OPENSSL_3.0.0";

/// As the dynamic loader does when a needed library or symbol is missing: a message naming it
/// on standard error, exit status 127. Nothing else can be done without the library.
static void fail(const char *detail) {
    fprintf(stderr, "%s: error while loading shared libraries: %s: %s; install OpenSSL 3 (Debian: apt-get install libssl3)\n",
            program_invocation_short_name, library, detail ? detail : "unknown error");
    _exit(127);
}

static void load(void) {
    // RTLD_LOCAL: its symbols are not offered to libraries loaded after it.
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) fail(dlerror());
#define RESOLVE(name, result, parameters, arguments) \
    functions.name = (__typeof__(&name))dlvsym(handle, #name, version); \
    if (functions.name == NULL) fail("undefined symbol " #name "@OPENSSL_3.0.0");
    ENROLL_LIBCRYPTO_FUNCTIONS(RESOLVE)
#undef RESOLVE
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
}

static inline void require(void) {
    if (__builtin_expect(!__atomic_load_n(&loaded, __ATOMIC_ACQUIRE), 0)) pthread_once(&once, load);
}

#define FORWARD(name, result, parameters, arguments) \
    result enroll_##name parameters { require(); return functions.name arguments; }
ENROLL_LIBCRYPTO_FUNCTIONS(FORWARD)
#undef FORWARD

#pragma GCC diagnostic pop
