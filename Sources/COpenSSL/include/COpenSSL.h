#ifndef C_OPENSSL_H
#define C_OPENSSL_H
// OpenSSL 3's libcrypto, loaded when it is first needed rather than when the program starts.
//
// Mapping and relocating libcrypto.so.3 is about a millisecond and a hundred page faults of
// every process start, a sixth of `enroll status`, which needs no cryptography at all
// (BENCHMARKS.md, step 24). So nothing links against libcrypto: Swift calls the `enroll_`
// functions declared below, each of which forwards to the function of the same name without
// the prefix, found with dlvsym() at the symbol version the program was built against, as the
// dynamic loader would have bound it. The first call loads the library (once, thread-safe);
// a program that cannot load it stops with the loader's own kind of message and exit status
// 127, as it would have at start-up.
//
// OpenSSL's headers are included for their types and constants (and for the tests, which link
// libcrypto themselves to compare with OpenSSL's own HMAC()). Calling one of their functions by
// its own name links against nothing and fails at link time: add it to the list instead.
#include <stddef.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

// F(name, return type, parameters, arguments): every libcrypto function the program calls.
#define ENROLL_LIBCRYPTO_FUNCTIONS(F) \
    F(CRYPTO_memcmp, int, (const void *a, const void *b, size_t length), (a, b, length)) \
    F(OPENSSL_cleanse, void, (void *bytes, size_t length), (bytes, length)) \
    F(ERR_clear_error, void, (void), ()) \
    F(ERR_get_error, unsigned long, (void), ()) \
    F(ERR_error_string_n, void, (unsigned long error, char *buffer, size_t length), (error, buffer, length)) \
    F(RAND_bytes, int, (unsigned char *buffer, int count), (buffer, count)) \
    F(EVP_CIPHER_fetch, EVP_CIPHER *, (OSSL_LIB_CTX *library, const char *algorithm, const char *properties), (library, algorithm, properties)) \
    F(EVP_aes_256_gcm, const EVP_CIPHER *, (void), ()) \
    F(EVP_CIPHER_CTX_new, EVP_CIPHER_CTX *, (void), ()) \
    F(EVP_CIPHER_CTX_free, void, (EVP_CIPHER_CTX *context), (context)) \
    F(EVP_CIPHER_CTX_ctrl, int, (EVP_CIPHER_CTX *context, int type, int argument, void *pointer), (context, type, argument, pointer)) \
    F(EVP_EncryptInit_ex, int, (EVP_CIPHER_CTX *context, const EVP_CIPHER *cipher, ENGINE *engine, const unsigned char *key, const unsigned char *iv), (context, cipher, engine, key, iv)) \
    F(EVP_EncryptUpdate, int, (EVP_CIPHER_CTX *context, unsigned char *out, int *outLength, const unsigned char *in, int inLength), (context, out, outLength, in, inLength)) \
    F(EVP_EncryptFinal_ex, int, (EVP_CIPHER_CTX *context, unsigned char *out, int *outLength), (context, out, outLength)) \
    F(EVP_DecryptInit_ex, int, (EVP_CIPHER_CTX *context, const EVP_CIPHER *cipher, ENGINE *engine, const unsigned char *key, const unsigned char *iv), (context, cipher, engine, key, iv)) \
    F(EVP_DecryptUpdate, int, (EVP_CIPHER_CTX *context, unsigned char *out, int *outLength, const unsigned char *in, int inLength), (context, out, outLength, in, inLength)) \
    F(EVP_DecryptFinal_ex, int, (EVP_CIPHER_CTX *context, unsigned char *out, int *outLength), (context, out, outLength)) \
    F(EVP_MD_fetch, EVP_MD *, (OSSL_LIB_CTX *library, const char *algorithm, const char *properties), (library, algorithm, properties)) \
    F(EVP_sha256, const EVP_MD *, (void), ()) \
    F(EVP_MD_get0_provider, const OSSL_PROVIDER *, (const EVP_MD *digest), (digest)) \
    F(OSSL_PROVIDER_get0_name, const char *, (const OSSL_PROVIDER *provider), (provider)) \
    F(EVP_Digest, int, (const void *data, size_t count, unsigned char *out, unsigned int *size, const EVP_MD *digest, ENGINE *engine), (data, count, out, size, digest, engine)) \
    F(EVP_MD_CTX_new, EVP_MD_CTX *, (void), ()) \
    F(EVP_MD_CTX_free, void, (EVP_MD_CTX *context), (context)) \
    F(EVP_MD_CTX_copy_ex, int, (EVP_MD_CTX *out, const EVP_MD_CTX *in), (out, in)) \
    F(EVP_DigestInit_ex, int, (EVP_MD_CTX *context, const EVP_MD *digest, ENGINE *engine), (context, digest, engine)) \
    F(EVP_DigestUpdate, int, (EVP_MD_CTX *context, const void *data, size_t count), (context, data, count)) \
    F(EVP_DigestFinal_ex, int, (EVP_MD_CTX *context, unsigned char *out, unsigned int *size), (context, out, size)) \
    F(SHA1_Init, int, (SHA_CTX *state), (state)) \
    F(SHA1_Update, int, (SHA_CTX *state, const void *data, size_t count), (state, data, count)) \
    F(SHA1_Final, int, (unsigned char *out, SHA_CTX *state), (out, state)) \
    F(SHA256_Init, int, (SHA256_CTX *state), (state)) \
    F(SHA256_Update, int, (SHA256_CTX *state, const void *data, size_t count), (state, data, count)) \
    F(SHA256_Final, int, (unsigned char *out, SHA256_CTX *state), (out, state)) \
    F(SHA512_Init, int, (SHA512_CTX *state), (state)) \
    F(SHA512_Update, int, (SHA512_CTX *state, const void *data, size_t count), (state, data, count)) \
    F(SHA512_Final, int, (unsigned char *out, SHA512_CTX *state), (out, state))

#define ENROLL_LIBCRYPTO_DECLARE(name, result, parameters, arguments) result enroll_##name parameters;
ENROLL_LIBCRYPTO_FUNCTIONS(ENROLL_LIBCRYPTO_DECLARE)
#undef ENROLL_LIBCRYPTO_DECLARE

#include "keyed_hmac.h"
#endif
