/*
 * session.h: the RTFT v1 protocol (docs/protocol.md) for the WebSocket
 * clients of a worker: one session per connection, from the upgrade to the
 * close. A session answers what it can itself (SET_USERNAME, GET_USERS,
 * PING, CAPABILITIES, PEER_INFO, GET_ICE_SERVERS) and hands every relayed
 * message to the delivery interface (deliver.h), which finds the holder of
 * the recipient's name in the directory (directory.h). It never learns
 * where that holder is. Worker only.
 */
#ifndef RT_SESSION_H
#define RT_SESSION_H

#include "rtftd.h"

struct config;
struct deliver;
struct deliver_sink;
struct directory;
struct event_base;
struct ice_config;

/* The WebSocket callbacks (for ws_setup()). */
struct ws_handlers;
extern const struct ws_handlers session_ws_handlers;
/* Once per worker, after fork and ws_setup(): applies cfg and starts the tick that sends user lists, renews ICE
 * credentials and closes connections that never registered. dir and dl
 * must outlive the worker. */
void session_setup(struct event_base *base, const struct config *cfg, const struct directory *dir,
		   const struct deliver *dl);
/* Reloadable settings: limits, timeouts, user_list_max, the ICE servers. */
void session_apply(const struct config *cfg);
/* What the delivery back end calls to reach this worker's sessions. */
extern const struct deliver_sink session_sink;
/* The ICE servers of the current config (GET /api/ice-servers too). */
const struct ice_config *session_ice(void);
/* Sessions of this worker that hold a name (stats). */
int64_t session_registered(void);

#endif
