/*
 * transfers.h: transfer records, written by a thread of each worker so the
 * event loop never waits for the database. The loop only appends events
 * to a bounded in-memory queue; the thread writes them in batches, one
 * transaction per batch (SQLite: BEGIN IMMEDIATE).
 * The loop side also keeps each sender's open transfers (a transfer_book),
 * from the FILE_METADATA that starts one to the FILE_COMPLETE that ends it,
 * and turns what it sees into those records.
 */
#ifndef RT_TRANSFERS_H
#define RT_TRANSFERS_H

#include "rtftd.h"

struct config;
struct proto_msg;

enum transfer_status { TRANSFER_ACTIVE = 0, TRANSFER_COMPLETED, TRANSFER_FAILED };

/* Worker, after fork. Starts the writer thread (which opens its own
 * database handle). RT_ERR if the thread cannot start. */
int transfers_setup(const struct config *cfg, int slot, struct rt_err *err) RT_MUSTCHECK;
/* Reloadable settings: retention_days (a change purges by it at once).
 * Records started more than retention_days ago are deleted by the writer
 * thread, in batches, soon after start and hourly; 0 keeps them all. */
void transfers_apply(const struct config *cfg);
/* Flushes what is queued and stops the thread (worker exit). */
void transfers_shutdown(void);

/* Loop side; never blocks. file_name NULL unless store_file_names. */
void transfers_open(const char *uid, const char *sender, const char *recipient, const char *file_name, uint64_t size,
		    const char *file_type, const char *mode);
void transfers_close(const char *uid, enum transfer_status status, uint64_t bytes, const char *reason);

/* One sender's open transfers (at most 16; most users never send a file,
 * so a book is allocated by the first FILE_METADATA). Loop side. */
struct transfer_book;
/* A relayed message of sender's (m) was accepted for delivery:
 * FILE_METADATA opens a record (the file name kept only if store_name),
 * FILE_CHUNK adds its bytes, FILE_COMPLETE closes it; others do nothing. */
void transfers_note(struct transfer_book **book, const char *sender, const struct proto_msg *m, bool store_name);
/* The recipient could not be reached: the transfers relayed to it failed
 * (a peer to peer one may go on over its data channel). */
void transfers_fail_to(struct transfer_book *book, const char *recipient, const char *reason);
/* The sender disconnected: every open record ends, and book is freed. */
void transfers_sender_gone(struct transfer_book *book);

/* Counters for stats. */
extern uint64_t transfers_written, transfers_dropped, transfers_db_errors;

#endif
