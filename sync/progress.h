/*
 * How far each bucket's stream has been applied to PostgreSQL, and which
 * daemon applies it (ARCHITECTURE.md, "Exactly once into PostgreSQL").
 *
 * The high-water mark. Table sync_progress (migration 010) holds, per
 * bucket, the id of the last stream entry applied. Every transaction that
 * applies entries of a bucket moves that bucket's mark from the entry
 * before its first to its last one, in the same transaction, and only if
 * the mark still is where the batch began (a compare-and-set that also
 * locks the row until COMMIT). So each entry is applied exactly once: a
 * crash before COMMIT leaves the mark where it was and the entries are read
 * again; a crash after it has moved the mark past them; and two appliers of
 * one bucket cannot both commit the same entries, whatever the leases do.
 *
 * The lease. Entries of a bucket must be applied in stream order (a
 * redemption after its code's issue, a payment after the activation that
 * makes it pay), so one daemon at a time reads a bucket: the holder of the
 * bucket's lease, a PostgreSQL session-level advisory lock taken with
 * pg_try_advisory_lock on the lane's connection. A daemon that dies, or
 * loses its connection, loses its leases with it, and whoever tries next
 * takes them over. Lanes retry the leases they do not hold every few
 * seconds, so a second daemon started beside the first idles until the
 * first stops, and takes over its buckets then.
 */
#ifndef SYNC_PROGRESS_H
#define SYNC_PROGRESS_H

#include <stdint.h>
#include <libpq-fe.h>
#include "ig_keys.h"
#include "batch.h"
#include "db.h"

/** How often a lane tries again to take the leases it does not hold. */
#define SYNC_LEASE_RETRY_MS 2000

/** The buckets of one lane: which leases it holds, and their marks as PostgreSQL has them. */
typedef struct sync_progress_t {
    unsigned first;                      /**< first bucket of the lane */
    unsigned count;                      /**< buckets of the lane, from first */
    int held[IG_BUCKETS_MAX];            /**< the lease is held on the current connection */
    uint64_t applied[IG_BUCKETS_MAX][2]; /**< the mark (entry id ms, seq) as of the last load or COMMIT */
    uint64_t next_try_ms;                /**< when the leases not held are tried again */
    char errstr[SYNC_DB_ERR_BYTES];      /**< why the last call failed */
} sync_progress_t;

/** Prepares p for buckets first .. first + count - 1, holding nothing. */
void sync_progress_init(sync_progress_t *p, unsigned first, unsigned count);

/** Forgets every lease: the connection that held them is gone. */
void sync_progress_drop(sync_progress_t *p);

/** Number of leases held. */
unsigned sync_progress_held(const sync_progress_t *p);

/**
 * Tries to take the leases of the lane that it does not hold, on conn (at
 * most every SYNC_LEASE_RETRY_MS, unless force), and loads the mark of
 * each bucket taken (creating its row at 0-0 the first time). gained[b] is
 * set for those. Returns 0, or -1 with p->errstr set (the connection should
 * then be replaced).
 */
__attribute__((warn_unused_result)) int sync_progress_acquire(sync_progress_t *p, PGconn *conn, int force,
                                                              int gained[IG_BUCKETS_MAX]);

/**
 * In the transaction applying b: moves the mark of every bucket b read
 * from b->from to b->to. Returns 0; or -1 with p->errstr set, and
 * *conflict set when the marks were not where b began (another daemon
 * applied those entries: the transaction must be rolled back and b
 * dropped).
 */
__attribute__((warn_unused_result)) int sync_progress_advance(sync_progress_t *p, PGconn *conn, const sync_batch_t *b,
                                                              int *conflict);

/** After the COMMIT of b: its marks are PostgreSQL's. */
void sync_progress_committed(sync_progress_t *p, const sync_batch_t *b);

#endif
