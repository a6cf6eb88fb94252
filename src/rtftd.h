/*
 * rtftd.h: project-wide status codes, the error carrier used by leaf code,
 * attribute macros and limits. No other structs live here.
 */
#ifndef RTFTD_H
#define RTFTD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define RT_OK 0
#define RT_ERR (-1)
#define RT_AGAIN (-2)

#define RT_MUSTCHECK __attribute__((warn_unused_result))
#define RT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RT_NORETURN __attribute__((noreturn))
#define RT_UNUSED __attribute__((unused))
#define RT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Upper bound on worker processes per generation; two generations may
 * overlap during a drain, so the slot table holds twice as many. */
#define RT_MAX_WORKERS 64
#define RT_MAX_SLOTS (2 * RT_MAX_WORKERS)

/* Exit statuses of rtftd and of its children (see rtftd(8)). */
#define RT_EXIT_OK 0
#define RT_EXIT_FAILURE 1 /* configuration, migration or start-up error */
#define RT_EXIT_CHILD_INIT 2 /* a child could not initialise: do not respawn */

/* Leaf code reports errors by filling one of these and returning RT_ERR. */
struct rt_err {
	char msg[512];
};

void rt_err_set(struct rt_err *err, const char *fmt, ...) RT_PRINTF(2, 3);

#ifdef RT_CASSERT
#define rt_assert(cond) \
	do { \
		if (!(cond)) \
			rt_assert_fail(#cond, __FILE__, __LINE__); \
	} while (0)
#else
/* not evaluated, but still compiled: a broken assertion fails every build */
#define rt_assert(cond) ((void)sizeof(!(cond)))
#endif
RT_NORETURN void rt_assert_fail(const char *expr, const char *file, int line);

#endif
