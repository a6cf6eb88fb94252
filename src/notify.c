/*
 * notify.c: thin wrapper over libsystemd's sd_notify. The environment is
 * left in place (unset_environment = 0) so reloads can notify again; the
 * children never call these.
 */
#include "autoconf.h"
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

void notify_ready(void)
{
	char buf[64];
	snprintf(buf, sizeof buf, "READY=1\nMAINPID=%d", (int)getpid());
	(void)sd_notify(0, buf);
}

void notify_reloading(void)
{
	/* MONOTONIC_USEC lets newer systemd match the reload to its request. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char buf[96];
	snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	(void)sd_notify(0, buf);
}

void notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

void notify_watchdog(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}

void notify_status(const char *fmt, ...)
{
	char buf[512] = "STATUS=";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof buf - 7, fmt, ap);
	va_end(ap);
	(void)sd_notify(0, buf);
}

uint64_t notify_watchdog_usec(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
	return 0;
}
