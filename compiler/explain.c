/* explain.c - show a plan instance to people (text) and programs (JSON).
 *
 * Secrets never leave the plan: a setting that is a secret prints as ***,
 * and one read from the environment prints as ENV('NAME'). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kmsync/plan.h"
#include "util.h"

const char *km_setting_display(const km_setting_t *s, char *buf, size_t len)
{
        if (!s->value)
                snprintf(buf, len, "(none)");
        else if (s->secret)
                snprintf(buf, len, "***");
        else if (s->from_env)
                snprintf(buf, len, "ENV('%s')", s->value);
        else
                snprintf(buf, len, "%s", s->value);
        return buf;
}

void km_sync_table_name(const km_sync_plan_t *sync, char *buf, size_t len)
{
        const km_mc_conn_t *mc = sync->mc;
        if (mc && mc->schema)
                snprintf(buf, len, "%s.%s.%s", mc->project, mc->schema,
                         sync->table);
        else
                snprintf(buf, len, "%s.%s", mc ? mc->project : "?",
                         sync->table);
}

static void describe_delay(int64_t ms, char *buf, size_t len)
{
        int64_t s = ms / 1000;
        if (s % 3600 == 0 && s >= 3600)
                snprintf(buf, len, "%lld hour%s", (long long)(s / 3600),
                         s == 3600 ? "" : "s");
        else if (s % 60 == 0 && s >= 60)
                snprintf(buf, len, "%lld minute%s", (long long)(s / 60),
                         s == 60 ? "" : "s");
        else
                snprintf(buf, len, "%lld second%s", (long long)s,
                         s == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- JSON */

static json_t *settings_json(const km_setting_t *opts, int n)
{
        json_t *o = json_object();
        char buf[512];
        for (int i = 0; i < n; i++)
                json_object_set_new(o, opts[i].key,
                                    json_string(km_setting_display(
                                            &opts[i], buf, sizeof(buf))));
        return o;
}

static json_t *kafka_json(const km_kafka_conn_t *k)
{
        if (!k)
                return json_null();
        km_setting_t brokers = {"brokers", k->brokers, k->brokers_from_env, 0};
        char buf[512];
        return json_pack("{s:s, s:s, s:o}", "name", k->name, "brokers",
                         km_setting_display(&brokers, buf, sizeof(buf)),
                         "options", settings_json(k->options, k->noptions));
}

static json_t *mc_json(const km_mc_conn_t *m)
{
        if (!m)
                return json_null();
        char id[512], secret[64], endpoint[512], tunnel[512];
        km_setting_t ep = {"endpoint", m->endpoint, m->endpoint_from_env, 0};
        km_setting_t tep = {"tunnel_endpoint", m->tunnel_endpoint,
                            m->tunnel_endpoint_from_env, 0};
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:o}", "name", m->name, "endpoint",
                km_setting_display(&ep, endpoint, sizeof(endpoint)), "project",
                m->project ? m->project : "", "access_key_id",
                km_setting_display(&m->access_id, id, sizeof(id)),
                "access_key_secret",
                km_setting_display(&m->access_secret, secret, sizeof(secret)),
                "options", settings_json(m->options, m->noptions));
        json_object_set_new(o, "tunnel_endpoint",
                            m->tunnel_endpoint
                                    ? json_string(km_setting_display(
                                              &tep, tunnel, sizeof(tunnel)))
                                    : json_null());
        json_object_set_new(o, "schema",
                            m->schema ? json_string(m->schema) : json_null());
        if (m->sts_token.key)
                json_object_set_new(o, "sts_token", json_string("***"));
        return o;
}

static json_t *columns_json(const km_sync_plan_t *sync)
{
        json_t *a = json_array();
        char type[64];
        for (int i = 0; i < sync->ncolumns; i++) {
                const km_column_t *c = &sync->columns[i];
                km_type_format(&c->type, type, sizeof(type));
                const char *kind = c->source_kind == KM_SOURCE_FIELD ? "field"
                                   : c->source_kind == KM_SOURCE_PATH
                                           ? "json_path"
                                           : "constant";
                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}",
                                                   "source", c->source,
                                                   "column", c->name, "type",
                                                   type, "kind", kind));
        }
        return a;
}

static json_t *partition_json(const km_instance_t *in)
{
        json_t *o = json_object();
        for (int i = 0; i < in->sync->npartition; i++)
                json_object_set_new(o, in->sync->partition[i].key,
                                    json_string(in->partition_values[i]));
        return o;
}

void *km_instance_to_json(const km_instance_t *in)
{
        const km_sync_plan_t *s = in->sync;
        char table[512], sched[256], at[20], ws[20], we[20];
        km_sync_table_name(s, table, sizeof(table));
        km_sched_describe(&s->schedule, sched, sizeof(sched));
        km_civil_format(&in->scheduled, at);
        km_civil_format(&in->window_start_local, ws);
        km_civil_format(&in->window_end_local, we);
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:s, s:s, s:s, "
                "s:s, s:s}",
                "name", s->name, "topic", s->topic, "group", s->group, "table",
                table, "partition", in->partition_spec, "partition_values",
                partition_json(in), "scheduled_at", at, "window_start_ms",
                (json_int_t)in->window_start_ms, "window_end_ms",
                (json_int_t)in->window_end_ms, "window_start", ws,
                "window_end", we, "timezone", s->timezone, "key",
                km_serde_name(s->key_serde), "value",
                km_serde_name(s->value_serde));
        json_object_set_new(o, "encoding", json_string(s->encoding));
        json_object_set_new(o, "end",
                            s->end == KM_END_WHEN_IDLE
                                    ? json_pack("{s:I}", "idle_ms",
                                                (json_int_t)s->idle_ms)
                                    : json_string("window_end"));
        json_object_set_new(o, "schedule",
                            s->schedule.kind == KM_SCHED_NONE
                                    ? json_null()
                                    : json_string(sched));
        json_object_set_new(o, "retry",
                            json_pack("{s:i, s:I}", "times", s->retry_times,
                                      "delay_ms",
                                      (json_int_t)s->retry_delay_ms));
        json_object_set_new(o, "errors_limit",
                            json_integer(s->errors_limit));
        json_object_set_new(o, "lifecycle_days",
                            json_integer(s->lifecycle_days));
        json_object_set_new(o, "write",
                            json_string(s->append ? "append" : "overwrite"));
        json_object_set_new(o, "kafka", kafka_json(s->kafka));
        json_object_set_new(o, "maxcompute", mc_json(s->mc));
        json_object_set_new(o, "columns", columns_json(s));
        return o;
}

/* ---------------------------------------------------------------- text */

static void print_kafka(FILE *out, const km_kafka_conn_t *k)
{
        char buf[512];
        km_setting_t brokers = {"brokers", k->brokers, k->brokers_from_env, 0};
        fprintf(out, "  from         %s: %s\n", k->name,
                km_setting_display(&brokers, buf, sizeof(buf)));
        for (int i = 0; i < k->noptions; i++)
                fprintf(out, "               %s = %s\n", k->options[i].key,
                        km_setting_display(&k->options[i], buf, sizeof(buf)));
}

static void print_mc(FILE *out, const km_sync_plan_t *s)
{
        char table[512], id[512], secret[64], ep[512], tep[512];
        const km_mc_conn_t *m = s->mc;
        km_setting_t eps = {"endpoint", m->endpoint, m->endpoint_from_env, 0};
        km_setting_t teps = {"tunnel", m->tunnel_endpoint,
                             m->tunnel_endpoint_from_env, 0};
        km_sync_table_name(s, table, sizeof(table));
        fprintf(out, "  into         %s: %s\n", m->name, table);
        fprintf(out, "               endpoint %s%s%s\n",
                km_setting_display(&eps, ep, sizeof(ep)),
                m->tunnel_endpoint ? ", tunnel " : "",
                m->tunnel_endpoint ? km_setting_display(&teps, tep, sizeof(tep))
                                   : "");
        fprintf(out, "               access key %s, secret %s\n",
                km_setting_display(&s->mc->access_id, id, sizeof(id)),
                km_setting_display(&s->mc->access_secret, secret,
                                   sizeof(secret)));
}

static void print_policies(FILE *out, const km_sync_plan_t *s)
{
        char buf[256];
        if (s->end == KM_END_WHEN_IDLE) {
                describe_delay(s->idle_ms, buf, sizeof(buf));
                fprintf(out, "  end          when idle for %s\n", buf);
        } else {
                fprintf(out, "  end          at window end\n");
        }
        km_sched_describe(&s->schedule, buf, sizeof(buf));
        fprintf(out, "  schedule     %s\n",
                s->schedule.kind == KM_SCHED_NONE ? "none (on demand)" : buf);
        describe_delay(s->retry_delay_ms, buf, sizeof(buf));
        if (s->retry_times)
                fprintf(out, "  retry        %d times, %s apart\n",
                        s->retry_times, buf);
        else
                fprintf(out, "  retry        none\n");
        fprintf(out, "  errors limit %lld\n", (long long)s->errors_limit);
        fprintf(out, "  write        %s\n",
                s->append ? "append"
                : s->npartition ? "overwrite the partition"
                                : "overwrite the table");
}

static void print_columns(FILE *out, const km_sync_plan_t *s)
{
        char type[64];
        for (int i = 0; i < s->ncolumns; i++) {
                const km_column_t *c = &s->columns[i];
                km_type_format(&c->type, type, sizeof(type));
                fprintf(out, "  %-12s %-20s -> %s %s\n",
                        i == 0 ? "columns" : "", c->source, c->name, type);
        }
}

void km_instance_print(FILE *out, const km_instance_t *in)
{
        const km_sync_plan_t *s = in->sync;
        char at[20], ws[20], we[20];
        km_civil_format(&in->scheduled, at);
        km_civil_format(&in->window_start_local, ws);
        km_civil_format(&in->window_end_local, we);
        fprintf(out, "SYNC %s\n", s->name);
        fprintf(out, "  topic        %s (group %s, key %s, value %s, %s)\n",
                s->topic, s->group, km_serde_name(s->key_serde),
                km_serde_name(s->value_serde), s->encoding);
        if (s->kafka)
                print_kafka(out, s->kafka);
        if (s->mc)
                print_mc(out, s);
        fprintf(out, "  partition    %s\n",
                in->partition_spec[0] ? in->partition_spec
                                      : "(none: the table is not partitioned)");
        fprintf(out, "  run at       %s %s\n", at, s->timezone);
        fprintf(out, "  window       [%s, %s) %s\n", ws, we, s->timezone);
        fprintf(out, "               [%lld, %lld) ms\n",
                (long long)in->window_start_ms, (long long)in->window_end_ms);
        print_policies(out, s);
        print_columns(out, s);
}

void km_instance_print_line(FILE *out, const km_instance_t *in)
{
        char at[20], ws[20], we[20];
        km_civil_format(&in->scheduled, at);
        km_civil_format(&in->window_start_local, ws);
        km_civil_format(&in->window_end_local, we);
        fprintf(out, "%s  %s  [%s, %s)  %s\n", in->sync->name, at, ws, we,
                in->partition_spec[0] ? in->partition_spec : "-");
}
