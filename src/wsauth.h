/*
 * wsauth.h: optional sign-in on the WebSocket upgrade. With jwt_secret or
 * jwks_url set, an upgrade must carry a valid token (?token=, an
 * Authorization: Bearer header, or a Sec-WebSocket-Protocol entry
 * "rtft.token.<jwt>"); else it is refused before the 101. A session
 * remembers the token's expiry (closed with WSAUTH_CLOSE_EXPIRED) and the
 * name it may claim (jwt_name_claim). Worker side; runs on the event loop.
 */
#ifndef RT_WSAUTH_H
#define RT_WSAUTH_H

#include "rtftd.h"
#include <evhtp/evhtp.h>

struct config;
struct ws_conn;
struct event_base;

#define WSAUTH_CLOSE_EXPIRED 4001 /* close code: "token expired" */
#define WSAUTH_PROTOCOL "rtft" /* the subprotocol echoed when offered */
#define WSAUTH_PROTOCOL_TOKEN "rtft.token." /* prefix of the token entry */

/* What a signed-in session keeps. */
struct wsauth;

/* Start (the key set fetcher when jwks_url is set) and apply settings. */
int wsauth_setup(struct event_base *base, const struct config *cfg, struct rt_err *err) RT_MUSTCHECK;
void wsauth_apply(const struct config *cfg);
void wsauth_shutdown(void);
bool wsauth_enabled(void);
/* The claim that names the session (jwt_name_claim), or NULL. */
const char *wsauth_name_claim(void);

/* Judge an upgrade request. 0: go on, with *auth set when sign-in is on
 * (NULL when off) and *protocol the subprotocol to answer (or NULL).
 * Else the HTTP status (401, 503) with *why for the body; headers for the
 * refusal are already added to the request's output. */
int wsauth_check(evhtp_request_t *req, struct wsauth **auth, const char **protocol, const char **why);

/* After the connection exists: arm its expiry timer. */
void wsauth_attach(struct wsauth *a, struct ws_conn *c);
void wsauth_free(struct wsauth *a);
/* The name the session may claim, or NULL when any name will do. */
const char *wsauth_name(const struct wsauth *a);

#endif
