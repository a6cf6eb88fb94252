/*
 * jwks.h: the JSON Web Key Set of jwks_url, fetched by a thread of its own
 * in each worker (libcurl), so that no fetch ever runs on the event loop.
 * The loop only takes a reference to the current key set (a mutex held for
 * a pointer copy) and may ask for an early refresh.
 */
#ifndef RT_JWKS_H
#define RT_JWKS_H

#include "jwt.h"

#define JWKS_REFRESH_S 300 /* periodic refresh */
#define JWKS_MIN_GAP_S 5 /* an unknown kid refreshes at most this often */
#define JWKS_RETRY_MAX_S 60 /* failed fetches are retried with back-off up to this */
#define JWKS_TIMEOUT_S 10 /* one fetch, connect to last byte */

/* Fetch url (http:// or https://, or "" for none): starts the thread the
 * first time a URL is given; a later call with another URL (a reload)
 * drops the current keys and fetches the new one at once. RT_OK or RT_ERR. */
int jwks_configure(const char *url, struct rt_err *err) RT_MUSTCHECK;
/* Stop and join the thread; drop the key set. */
void jwks_stop(void);
/* The current key set with a reference (jwt_keyset_unref it), or NULL
 * while none was fetched. */
struct jwt_keyset *jwks_current(void);
/* A token named a kid we do not know: fetch again soon (rate-limited). */
void jwks_want_refresh(void);
/* Fetches done, successful or not (for tests and logs). */
unsigned jwks_fetches(void);

#endif
