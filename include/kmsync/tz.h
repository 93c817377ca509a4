/* tz.h - time zones from the system's TZif database, without touching TZ.
 *
 * A plan names its zone ('Asia/Shanghai'); every wall-clock time of the plan
 * (scheduled times, window bounds) is read in that zone.  glibc can only
 * convert in the one process-wide zone set through TZ, so kmsync reads the
 * compiled zone files (/usr/share/zoneinfo, format RFC 8536) itself and keeps
 * one immutable km_tz_t per zone: thread-safe and free of global state. */
#ifndef KMSYNC_TZ_H
#define KMSYNC_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "kmsync/civil.h"

typedef struct km_tz km_tz_t;

/* How a wall-clock reading maps to instants in a zone. */
typedef enum km_tz_fit {
        KM_TZ_EXACT = 0,     /* exactly one instant */
        KM_TZ_GAP = 1,       /* skipped by a forward transition (DST start) */
        KM_TZ_AMBIGUOUS = 2, /* occurs twice (DST end) */
} km_tz_fit_t;

/* Loads zone NAME ('UTC', 'Asia/Shanghai', 'America/New_York').  The zone
 * directory is $KMSYNC_ZONEINFO when set, else /usr/share/zoneinfo.  'UTC'
 * and 'Etc/UTC' work without any file.  Returns NULL and writes a message
 * into errbuf when the name is not a zone (names with '..' or a leading '/'
 * are refused).  The caller owns the result: km_tz_free(). */
km_tz_t *km_tz_load(const char *name, char *errbuf, size_t errlen);
void km_tz_free(km_tz_t *tz);
const char *km_tz_name(const km_tz_t *tz);

/* UTC offset in seconds east of Greenwich in force at instant utc_sec. */
int32_t km_tz_offset_at(const km_tz_t *tz, int64_t utc_sec);

/* The wall clock in zone tz at instant utc_sec. */
void km_tz_to_local(const km_tz_t *tz, int64_t utc_sec, km_civil_t *out);

/* The instant of wall-clock reading `local` in zone tz, into *utc_sec.
 * KM_TZ_GAP: the reading does not exist; *utc_sec is the reading taken with
 * the offset in force before the gap, i.e. moved forward by the gap's length
 * (02:30 on a spring-forward night becomes 03:30), as POSIX mktime() does.
 * KM_TZ_AMBIGUOUS: the reading occurs twice; *utc_sec is the earlier one. */
km_tz_fit_t km_tz_from_local(const km_tz_t *tz, const km_civil_t *local,
                             int64_t *utc_sec);

/* Writes instant `ms` (epoch milliseconds) as the wall clock in zone tz,
 * 'YYYY-MM-DD HH:MM:SS.mmm' (23 characters and the NUL), into buf. */
void km_tz_format_ms(const km_tz_t *tz, int64_t ms, char buf[32]);

#endif
