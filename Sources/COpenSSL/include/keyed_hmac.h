#ifndef C_OPENSSL_KEYED_HMAC_H
#define C_OPENSSL_KEYED_HMAC_H
// HMAC (RFC 2104) over OpenSSL's own SHA-1/SHA-256/SHA-512 block functions, with the keyed
// inner and outer digest states held by value.
//
// A TOTP verification computes three MACs under a key it has just been given. Through EVP,
// every MAC starts by copying the keyed state (EVP_MD_CTX_copy_ex), and each copy frees and
// allocates a provider context and wipes the old one: allocation and cleansing were more of a
// verification than the hashing itself (BENCHMARKS.md, step 22). Here a MAC starts from a
// struct copy on the stack and allocates nothing. The digest state types and functions are
// OpenSSL's (deprecated since 3.0 in favour of EVP, still part of its API), so the hashing is
// the same code, CPU extensions and all; only the EVP dispatch is left out. HMACContext
// (Sources/CryptoPrimitives) uses this only where OpenSSL's `default` provider serves the
// digest, which implements it with these functions; under any other provider it goes
// through EVP.
#include <stddef.h>
#include <string.h>
#include "COpenSSL.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define ENROLL_HMAC_SHA1 1
#define ENROLL_HMAC_SHA256 256
#define ENROLL_HMAC_SHA512 512

typedef union {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;
} enroll_digest_state;

/// A key absorbed into the inner (K xor ipad) and outer (K xor opad) states. Key material:
/// enroll_hmac_key_clear wipes it.
typedef struct {
    int digest;
    enroll_digest_state inner;
    enroll_digest_state outer;
} enroll_hmac_key;

static inline size_t enroll_hmac_block_size(int digest) { return digest == ENROLL_HMAC_SHA512 ? 128 : 64; }

static inline size_t enroll_hmac_length(int digest) {
    switch (digest) {
    case ENROLL_HMAC_SHA1: return SHA_DIGEST_LENGTH;
    case ENROLL_HMAC_SHA256: return SHA256_DIGEST_LENGTH;
    case ENROLL_HMAC_SHA512: return SHA512_DIGEST_LENGTH;
    default: return 0;
    }
}

/// The bytes of `enroll_digest_state` the digest uses (copied and wiped: the union is sized
/// for SHA-512).
static inline size_t enroll_digest_state_size(int digest) {
    switch (digest) {
    case ENROLL_HMAC_SHA1: return sizeof(SHA_CTX);
    case ENROLL_HMAC_SHA256: return sizeof(SHA256_CTX);
    default: return sizeof(SHA512_CTX);
    }
}

static inline int enroll_digest_init(int digest, enroll_digest_state *state) {
    switch (digest) {
    case ENROLL_HMAC_SHA1: return enroll_SHA1_Init(&state->sha1);
    case ENROLL_HMAC_SHA256: return enroll_SHA256_Init(&state->sha256);
    case ENROLL_HMAC_SHA512: return enroll_SHA512_Init(&state->sha512);
    default: return 0;
    }
}

static inline int enroll_digest_update(int digest, enroll_digest_state *state, const void *bytes, size_t count) {
    switch (digest) {
    case ENROLL_HMAC_SHA1: return enroll_SHA1_Update(&state->sha1, bytes, count);
    case ENROLL_HMAC_SHA256: return enroll_SHA256_Update(&state->sha256, bytes, count);
    case ENROLL_HMAC_SHA512: return enroll_SHA512_Update(&state->sha512, bytes, count);
    default: return 0;
    }
}

static inline int enroll_digest_final(int digest, enroll_digest_state *state, unsigned char *out) {
    switch (digest) {
    case ENROLL_HMAC_SHA1: return enroll_SHA1_Final(out, &state->sha1);
    case ENROLL_HMAC_SHA256: return enroll_SHA256_Final(out, &state->sha256);
    case ENROLL_HMAC_SHA512: return enroll_SHA512_Final(out, &state->sha512);
    default: return 0;
    }
}

/// Keys `hmac` (RFC 2104 §2: a key longer than the block is hashed first, a shorter one padded
/// with zeros). The padded key lives on the stack and is wiped before returning. 1 on success.
static inline int enroll_hmac_key_init(enroll_hmac_key *hmac, int digest, const unsigned char *key, size_t length) {
    size_t block = enroll_hmac_block_size(digest);
    unsigned char pad[128];
    enroll_digest_state hashing;
    int ok = enroll_hmac_length(digest) != 0;
    memset(hmac, 0, sizeof *hmac);
    memset(pad, 0, sizeof pad);
    hmac->digest = digest;
    if (ok && length > block) {
        ok = enroll_digest_init(digest, &hashing) && enroll_digest_update(digest, &hashing, key, length)
            && enroll_digest_final(digest, &hashing, pad);
        enroll_OPENSSL_cleanse(&hashing, sizeof hashing);
    } else if (ok && length > 0) {
        memcpy(pad, key, length);
    }
    for (size_t index = 0; index < block; index++) pad[index] ^= 0x36;
    ok = ok && enroll_digest_init(digest, &hmac->inner) && enroll_digest_update(digest, &hmac->inner, pad, block);
    for (size_t index = 0; index < block; index++) pad[index] ^= 0x36 ^ 0x5c;
    ok = ok && enroll_digest_init(digest, &hmac->outer) && enroll_digest_update(digest, &hmac->outer, pad, block);
    enroll_OPENSSL_cleanse(pad, sizeof pad);
    if (!ok) enroll_OPENSSL_cleanse(hmac, sizeof *hmac);
    return ok;
}

/// HMAC(key, message) = H(K xor opad || H(K xor ipad || message)) into `out`, which holds at
/// least enroll_hmac_length(hmac->digest) bytes. Returns the MAC's length, 0 on failure.
static inline size_t enroll_hmac(const enroll_hmac_key *hmac, const void *message, size_t count, unsigned char *out) {
    int digest = hmac->digest;
    size_t length = enroll_hmac_length(digest), size = enroll_digest_state_size(digest);
    enroll_digest_state work;
    memcpy(&work, &hmac->inner, size);
    int ok = length != 0 && enroll_digest_update(digest, &work, message, count) && enroll_digest_final(digest, &work, out);
    memcpy(&work, &hmac->outer, size);
    ok = ok && enroll_digest_update(digest, &work, out, length) && enroll_digest_final(digest, &work, out);
    enroll_OPENSSL_cleanse(&work, size);
    return ok ? length : 0;
}

static inline void enroll_hmac_key_clear(enroll_hmac_key *hmac) { enroll_OPENSSL_cleanse(hmac, sizeof *hmac); }

#pragma GCC diagnostic pop
#endif
