#include "arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif

#define ALIGN 16                     /* what malloc guarantees on x86-64 and aarch64 */
#define CHUNK_SIZE ((size_t)1 << 20) /* aligned to its size: a block's chunk is its address rounded down */
#define MAX_CHUNKS 64                /* past 64 MiB in one batch, blocks get a malloc of their own */
#define KEEP_CHUNKS 4                /* kept for the next batch; the rest is returned at the end */
#define LARGE_BLOCK (CHUNK_SIZE / 8) /* bigger blocks get a malloc of their own, freed at the end */

typedef struct st_arena_t {
    int active;
    size_t used;
#ifdef ARENA_ASAN
    void **blocks; /* every block since begin: a set (open addressing) so that free can tell */
    size_t capacity, count;
#else
    char *chunks[MAX_CHUNKS];
    size_t num_chunks;  /* chunks[num_chunks - 1] is the one being filled */
    size_t kept;        /* chunks allocated (the first num_chunks are in use) */
    size_t offset;      /* in the current chunk */
    struct st_large_t { /* blocks that get a malloc of their own: large ones, and all once the chunks are used up */
        struct st_large_t *next;
        max_align_t align[];
    } *large;
#endif
} arena_t;

static _Thread_local arena_t arena;

#ifdef ARENA_ASAN

static size_t slot_of(void *p, size_t capacity)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) & (capacity - 1);
}

static void remember(void *p)
{
    if ((arena.count + 1) * 2 > arena.capacity) {
        size_t cap = arena.capacity != 0 ? arena.capacity * 2 : 1024;
        void **blocks = calloc(cap, sizeof(*blocks));
        if (blocks == NULL)
            abort();
        for (size_t i = 0; i != arena.capacity; ++i) {
            if (arena.blocks[i] == NULL)
                continue;
            size_t j = slot_of(arena.blocks[i], cap);
            while (blocks[j] != NULL)
                j = (j + 1) & (cap - 1);
            blocks[j] = arena.blocks[i];
        }
        free(arena.blocks);
        arena.blocks = blocks;
        arena.capacity = cap;
    }
    size_t j = slot_of(p, arena.capacity);
    while (arena.blocks[j] != NULL)
        j = (j + 1) & (arena.capacity - 1);
    arena.blocks[j] = p;
    ++arena.count;
}

static int owns(void *p)
{
    if (arena.count == 0)
        return 0;
    for (size_t j = slot_of(p, arena.capacity); arena.blocks[j] != NULL; j = (j + 1) & (arena.capacity - 1))
        if (arena.blocks[j] == p)
            return 1;
    return 0;
}

static void *arena_alloc(size_t n)
{
    void *p = malloc(n);
    if (p != NULL)
        remember(p);
    return p;
}

static void release_all(void)
{
    for (size_t i = 0; i != arena.capacity; ++i)
        free(arena.blocks[i]);
    free(arena.blocks);
    arena.blocks = NULL;
    arena.capacity = arena.count = 0;
}

#else

/* Kept chunks count too: a block used after the end (a bug) is then at least never handed to free(). */
static int owns(void *p)
{
    char *chunk = (char *)((uintptr_t)p & ~(uintptr_t)(CHUNK_SIZE - 1));
    for (size_t i = 0; i != arena.kept; ++i)
        if (arena.chunks[i] == chunk)
            return 1;
    for (struct st_large_t *l = arena.large; l != NULL; l = l->next) /* rare: empty unless a batch was huge */
        if ((void *)l->align == p)
            return 1;
    return 0;
}

static void *large_alloc(size_t n)
{
    struct st_large_t *l = malloc(sizeof(*l) + n);
    if (l == NULL)
        return NULL;
    l->next = arena.large;
    arena.large = l;
    return l->align;
}

/* The chunks a thread keeps between batches are returned when it exits (replay jobs run on threads of their own). */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *unused)
{
    while (arena.kept != 0)
        free(arena.chunks[--arena.kept]);
    arena.num_chunks = 0;
}

static void exit_key_init(void)
{
    pthread_key_create(&exit_key, on_thread_exit);
}

static void *arena_alloc(size_t n)
{
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n > LARGE_BLOCK)
        return large_alloc(n);
    if (arena.num_chunks == 0 || arena.offset + n > CHUNK_SIZE) {
        if (arena.num_chunks == MAX_CHUNKS)
            return large_alloc(n);
        if (arena.num_chunks == arena.kept) {
            char *chunk = aligned_alloc(CHUNK_SIZE, CHUNK_SIZE);
            if (chunk == NULL)
                return large_alloc(n);
            if (arena.kept == 0) { /* a non-NULL value makes the key's destructor run at thread exit */
                pthread_once(&exit_once, exit_key_init);
                pthread_setspecific(exit_key, &arena);
            }
            arena.chunks[arena.kept++] = chunk;
        }
        ++arena.num_chunks;
        arena.offset = 0;
    }
    void *p = arena.chunks[arena.num_chunks - 1] + arena.offset;
    arena.offset += n;
    return p;
}

static void release_all(void)
{
    while (arena.large != NULL) {
        struct st_large_t *l = arena.large;
        arena.large = l->next;
        free(l);
    }
    while (arena.kept > KEEP_CHUNKS)
        free(arena.chunks[--arena.kept]);
    arena.num_chunks = 0;
    arena.offset = 0;
}

#endif

static void *json_alloc(size_t n)
{
    if (!arena.active)
        return malloc(n);
    void *p = arena_alloc(n); /* every block made in an arena is its own (see sy_json_arena_owns) */
    if (p != NULL)
        arena.used += n;
    return p;
}

static void json_free(void *p)
{
    if (p != NULL && !owns(p))
        free(p);
}

/* Before main, so no thread is inside jansson when the functions change (and none has allocated yet). */
__attribute__((constructor)) static void install(void)
{
    json_set_alloc_funcs(json_alloc, json_free);
}

void sy_json_arena_begin(void)
{
    arena.active = 1;
}

void sy_json_arena_end(void)
{
    if (!arena.active)
        return;
    release_all();
    arena.active = 0;
    arena.used = 0;
}

int sy_json_arena_owns(const json_t *v)
{
    return arena.active && v != NULL && owns((void *)v);
}

size_t sy_json_arena_used(void)
{
    return arena.used;
}
