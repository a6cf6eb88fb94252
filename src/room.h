/*
 * room.h: the RTFT v1 protocol on a worker: names (through presence.c),
 * user lists (coalesced), and where each message goes: a connection of
 * this worker (ws.c) or of another (bus.c). Worker only.
 */
#ifndef RT_ROOM_H
#define RT_ROOM_H

#include "rtftd.h"

#include <evhtp.h>

struct config;
struct event_base;
struct http_server;

int room_setup(struct event_base *base, int slot, uint32_t generation, int master_pid, const struct config *cfg,
	       struct rt_err *err) RT_MUSTCHECK;
/* Reloadable settings: limits, timeouts, user_list_max. */
void room_apply(const struct config *cfg);
/* The ICE servers of the current config (GET /api/ice-servers). */
struct ice_config;
const struct ice_config *room_ice(void);
/* The upgrade handler for http_set_upgrade(). */
int room_upgrade(evhtp_request_t *req, struct http_server *srv, const char **why);

#endif
