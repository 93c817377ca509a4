/* arena.c - region allocation in growing chunks. */
#include "kmsync/arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct km_arena_chunk {
        km_arena_chunk_t *next;
        size_t used, size;
        alignas(max_align_t) unsigned char data[];
};

enum { CHUNK_SIZE = 16384 };

void *km_arena_alloc(km_arena_t *a, size_t n)
{
        size_t align = alignof(max_align_t);
        n = (n + align - 1) / align * align;
        km_arena_chunk_t *c = a->head;
        if (!c || c->size - c->used < n) {
                size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
                c = km_xmalloc(sizeof(*c) + size);
                c->used = 0;
                c->size = size;
                c->next = a->head;
                a->head = c;
        }
        void *p = c->data + c->used;
        c->used += n;
        memset(p, 0, n);
        return p;
}

char *km_arena_strndup(km_arena_t *a, const char *s, size_t n)
{
        char *p = km_arena_alloc(a, n + 1);
        memcpy(p, s, n);
        return p;
}

char *km_arena_strdup(km_arena_t *a, const char *s)
{
        return km_arena_strndup(a, s, strlen(s));
}

char *km_arena_printf(km_arena_t *a, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *tmp = km_xvasprintf(fmt, ap);
        va_end(ap);
        char *p = km_arena_strdup(a, tmp);
        free(tmp);
        return p;
}

void km_arena_free(km_arena_t *a)
{
        km_arena_chunk_t *c = a->head;
        while (c) {
                km_arena_chunk_t *next = c->next;
                free(c);
                c = next;
        }
        a->head = NULL;
}
