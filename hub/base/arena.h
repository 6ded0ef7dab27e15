/*
 * A per-thread bump arena for jansson's allocations during one apply batch.
 *
 * A batch builds and drops thousands of small jansson nodes (event bodies, records, pushes): with malloc, a third
 * of the applier's time went to malloc and free. Between sy_json_arena_begin and sy_json_arena_end on a thread,
 * jansson allocates there from large chunks, its frees cost nothing, and end releases everything at once.
 *
 * jansson's allocation functions are process-wide, so they are installed once (before main) for every thread:
 * outside an arena (other threads, or this one between batches) they are malloc and free, and a block is
 * recognised as the arena's by its address, so a tree made with malloc may be freed inside an arena and vice versa.
 *
 * The rule that makes this safe: no jansson value allocated inside the arena may be used or freed after
 * sy_json_arena_end, nor handed to another thread. Whatever outlives the batch (policies, replay job state, admin
 * answers) is made outside an arena. Builds with AddressSanitizer allocate every arena block with malloc and free
 * them all at the end, so a use after the end is reported there.
 */
#ifndef SY_ARENA_H
#define SY_ARENA_H

#include <jansson.h>
#include <stddef.h>

/* Starts an arena on the calling thread (a no-op when one is active). */
void sy_json_arena_begin(void);
/* Frees every block of the calling thread's arena and stops it (a no-op without one). */
void sy_json_arena_end(void);
/*
 * Whether v was allocated by the calling thread's active arena. Everything allocated while an arena is active is
 * the arena's, so a tree built inside it from values also built inside it need not be released node by node: the
 * end frees it. (A tree holding a value made outside, e.g. before begin, must still be released with json_decref.)
 */
int sy_json_arena_owns(const json_t *v);
/* Bytes handed out by the calling thread's arena since it began (tests). */
size_t sy_json_arena_used(void);

#endif
