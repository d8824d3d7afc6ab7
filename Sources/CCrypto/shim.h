#ifndef FAB_CCRYPTO_SHIM_H
#define FAB_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* SHA-256 of a buffer through OpenSSL's SHA256_* functions. Unlike the EVP interface they need no
   provider, so a process that only hashes cache keys (fab's warm start) does not pay for OpenSSL 3's
   provider and configuration set-up (about 1.5 ms a run). Deprecated in OpenSSL 3, not removed. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline void fab_sha256(const void *data, size_t length, unsigned char digest[32]) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, length);
    SHA256_Final(digest, &context);
}
#pragma GCC diagnostic pop
/* Keeps OpenSSL from tearing its state down in an atexit handler. A process that exits while
   another thread still uses OpenSSL (an SSH session closing on a dispatch queue, a digest) then
   crashed in that thread on a freed lock (seen at the end of test runs); the memory goes back to
   the system at exit anyway. Call before the first other OpenSSL call of a code path; once the
   handler is registered (by any implicit initialisation), this has no effect. */
static inline void fab_openssl_no_atexit(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}
#endif
