/*
 * transfers.h: transfer records, written by a thread of each worker so the
 * event loop never waits for the database. The loop only appends events
 * to a bounded in-memory queue; the thread writes them in batches, one
 * transaction per batch (SQLite: BEGIN IMMEDIATE).
 */
#ifndef RT_TRANSFERS_H
#define RT_TRANSFERS_H

#include "rtftd.h"

struct config;

enum transfer_status { TRANSFER_ACTIVE = 0, TRANSFER_COMPLETED, TRANSFER_FAILED };

/* Worker, after fork. Starts the writer thread (which opens its own
 * database handle). RT_ERR if the thread cannot start. */
int transfers_setup(const struct config *cfg, int slot, struct rt_err *err) RT_MUSTCHECK;
/* Flushes what is queued and stops the thread (worker exit). */
void transfers_shutdown(void);

/* Loop side; never blocks. file_name NULL unless store_file_names. */
void transfers_open(const char *uid, const char *sender, const char *recipient, const char *file_name,
		    uint64_t size, const char *file_type, const char *mode);
void transfers_close(const char *uid, enum transfer_status status, uint64_t bytes, const char *reason);

/* Counters for stats. */
extern uint64_t transfers_written, transfers_dropped, transfers_db_errors;

#endif
