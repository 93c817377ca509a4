/* mock.h - the embedded Kafka: librdkafka's mock cluster, loaded from a
 * fixture and served on 127.0.0.1.
 *
 * The cluster runs inside this process on ports the OS chooses (librdkafka
 * 2.0.2 cannot be told which); clients reach it through the normal client
 * path at km_mock_bootstraps().  The mock keeps at most 5 MB or 100,000
 * message sets per partition and silently drops the oldest beyond that, so
 * loading verifies every partition and fails loudly when a fixture does
 * not fit. */
#ifndef KMSYNC_MOCK_H
#define KMSYNC_MOCK_H

#include <stddef.h>

#include "kmsync/fixture.h"

typedef struct km_mock km_mock_t;

/* Starts a cluster of `brokers` brokers.  NULL with a message on failure. */
km_mock_t *km_mock_start(int brokers, char *errbuf, size_t errlen);

/* Creates each topic of the fixture with max(its highest partition + 1,
 * min_partitions) partitions, produces every record with its partition,
 * timestamp, key, value and headers, and checks that every partition holds
 * exactly its records from offset 0.  Returns 0, or -1 with a message that
 * names the topic and partition and the fix. */
int km_mock_load(km_mock_t *m, const km_fixture_t *f, int min_partitions,
                 char *errbuf, size_t errlen);

/* "127.0.0.1:PORT,..." */
const char *km_mock_bootstraps(const km_mock_t *m);

/* The librdkafka mock cluster (rd_kafka_mock_cluster_t *), for tests that
 * inject faults with rdkafka_mock.h. */
void *km_mock_cluster(km_mock_t *m);

void km_mock_stop(km_mock_t *m);

#endif
