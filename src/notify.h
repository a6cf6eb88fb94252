/*
 * notify.h: sd_notify for the master. Every call is a no-op when
 * NOTIFY_SOCKET is not set. Only the master calls these (NotifyAccess=main).
 */
#ifndef RT_NOTIFY_H
#define RT_NOTIFY_H

#include "rtftd.h"

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) RT_PRINTF(1, 2);
/* WATCHDOG_USEC for this process, or 0 when the watchdog is off. */
uint64_t notify_watchdog_usec(void);

#endif
