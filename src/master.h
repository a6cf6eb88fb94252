/*
 * master.h: the master process: binds, forks and supervises the children,
 * acts on signals (reload, stop, log reopen), and talks to systemd.
 * Never serves clients.
 */
#ifndef RT_MASTER_H
#define RT_MASTER_H

#include "config.h"

/* Runs until stopped; returns the process exit status. Takes cfg. */
int master_run(struct config *cfg, const struct config_src *src);

#endif
