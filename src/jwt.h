/*
 * jwt.h: the verifier of signed sign-in tokens (compact JWS, RFC 7515/7519).
 * HS256 with a shared secret (libsodium); RS256, ES256 and EdDSA (Ed25519)
 * with the public keys of a JSON Web Key Set (RFC 7517, libcrypto). Leaf
 * module: no logging, no event loop; callable from any thread.
 */
#ifndef RT_JWT_H
#define RT_JWT_H

#include "rtftd.h"
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_BYTES 8192 /* a longer token is refused unread */
#define JWT_SKEW_S 60 /* exp and nbf are judged with this much clock slack */
#define JWT_NAME_MAX 256 /* the name claim's value, in bytes */
#define JWKS_MAX_BYTES (256 * 1024) /* a bigger key set document is refused */
#define JWKS_MAX_KEYS 32 /* keys kept from one document */

enum jwt_alg { JWT_ALG_NONE = 0, JWT_HS256, JWT_RS256, JWT_ES256, JWT_EDDSA };

enum jwt_result {
	JWT_OK = 0,
	JWT_MALFORMED, /* not three base64url parts of JSON objects */
	JWT_TOO_BIG,
	JWT_BAD_ALG, /* none, unknown, or not what the key is for */
	JWT_UNKNOWN_KID, /* no key of the set has the token's kid */
	JWT_NO_KEYS, /* the key set is not there (yet) */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET, /* nbf in the future */
	JWT_NO_EXP,
	JWT_ISSUER,
	JWT_AUDIENCE,
	JWT_NO_NAME, /* name_claim set, and the token has no such string claim */
};
const char *jwt_result_text(enum jwt_result r);

/* A parsed key set; immutable once built, shared by reference count. */
struct jwt_keyset;
/* Parse a JWKS document. Keys of a type or curve that are not supported
 * (or RSA keys under 2048 bits or with an unusual exponent) are skipped
 * and counted in *skipped.
 * Returns NULL and fills err when the document itself is bad. */
struct jwt_keyset *jwt_keyset_parse(const char *json, size_t len, int *skipped, struct rt_err *err) RT_MUSTCHECK;
int jwt_keyset_count(const struct jwt_keyset *ks);
struct jwt_keyset *jwt_keyset_ref(struct jwt_keyset *ks);
void jwt_keyset_unref(struct jwt_keyset *ks);

struct jwt_policy {
	const char *secret; /* HS256 shared secret, or NULL/"" */
	size_t secret_len;
	const char *issuer; /* required "iss", or NULL/"" */
	const char *audience; /* required in "aud", or NULL/"" */
	const char *name_claim; /* required string claim, or NULL/"" */
};

struct jwt_claims {
	int64_t exp; /* unix seconds */
	enum jwt_alg alg;
	char kid[128]; /* "" when the header had none */
	char name[JWT_NAME_MAX + 1]; /* the name claim's value, or "" */
};

/* Verify token (len bytes, not NUL-terminated) at wall-clock time now
 * (unix seconds) against the policy and the key set (NULL: none). */
enum jwt_result jwt_verify(const char *token, size_t len, const struct jwt_policy *p, const struct jwt_keyset *ks,
			   int64_t now, struct jwt_claims *out);

#endif
