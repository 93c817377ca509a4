/* target_local_int.h - the local warehouse target's knobs for tests and its
 * path encoding, private to libkmsync and its unit tests. */
#ifndef KMSYNC_TARGET_LOCAL_INT_H
#define KMSYNC_TARGET_LOCAL_INT_H

#include <stdint.h>

#include "kmsync/target.h"

/* The size at which a part file rolls over to the next (default 128 MiB);
 * 0 restores the default.  t must come from km_target_local_new(). */
void km_target_local_set_part_bytes(km_target_t *t, uint64_t bytes);

/* 1: swap partitions with two renames, as on a filesystem without
 * renameat2(RENAME_EXCHANGE), so tests can exercise that path. */
void km_target_local_force_rename_fallback(km_target_t *t, int on);

/* One path component for a name or a partition value: every byte outside
 * [A-Za-z0-9._-] becomes %XX (upper-case hex), and a text made only of
 * dots has every dot encoded ("." -> "%2E", ".." -> "%2E%2E").  Malloc'd. */
char *km_local_encode_component(const char *s);

#endif
