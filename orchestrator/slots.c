/* Free device slots indexed by capability (see slots.h). */
#include "orchestrator/slots.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

typedef struct s_member {
    int cap;                 /* capability id */
    long pos;                /* place in that capability's heap; -1: not in it */
    long skipped;            /* attempts counted for turns ended early (failures) */
} s_member;

typedef struct s_dev {
    int online, used, capacity, heard;
    long dispatched;
    s_member *m;
    size_t n_m;
} s_dev;

typedef struct s_cap {
    char *name;
    long *heap;              /* device ids; heap[0] first by the fairness rule */
    size_t n_heap;
    size_t n_devices;        /* devices offering it (the heap's room) */
    size_t n_online;
    size_t n_unheard;
    long turn;               /* attempts a device keeps the work for (1: none) */
} s_cap;

struct lab_slots {
    s_dev *dev;
    size_t n_dev;
    s_cap *cap;
    size_t n_cap;
};

static int s_eligible(const s_dev *d)
{
    return d->online && d->used < d->capacity;
}

/* A capability offered by more devices than this shares its work in turns
 * of ceil(n / S_TURN_DEVICES) attempts (slots.h): a round over its n
 * devices then uses each connection for a turn, not for one step. */
#define S_TURN_DEVICES 32

static s_member *s_member_of(const lab_slots *s, long dev, int cap)
{
    s_dev *d = &s->dev[dev];
    for (size_t k = 0; k < d->n_m; k++)
        if (d->m[k].cap == cap)
            return &d->m[k];
    return NULL;
}

/* Device dev's attempts as capability cap's turns count them. */
static long s_counted(const lab_slots *s, long dev, int cap)
{
    const s_member *m = s->cap[cap].turn > 1 ? s_member_of(s, dev, cap) : NULL;
    return s->dev[dev].dispatched + (m ? m->skipped : 0);
}

/* a before b for capability cap: the lower share of slots in use (compared
 * without dividing), then fewer attempts counted in turns, then within the
 * same turn more attempts (the device whose turn it is keeps it), then the
 * lower id (first in the config). */
static int s_before(const lab_slots *s, int cap, long a, long b)
{
    const s_dev *da = &s->dev[a], *db = &s->dev[b];
    long long la = (long long)da->used * db->capacity, lb = (long long)db->used * da->capacity;
    if (la != lb)
        return la < lb;
    long turn = s->cap[cap].turn, ca = s_counted(s, a, cap), cb = s_counted(s, b, cap);
    long ta = ca / turn, tb = cb / turn;
    if (ta != tb)
        return ta < tb;
    if (ca != cb)
        return ca > cb;
    return a < b;
}

static void s_place(lab_slots *s, s_cap *c, int cap, size_t i, long dev)
{
    c->heap[i] = dev;
    s_member_of(s, dev, cap)->pos = (long)i;
}

static void s_up(lab_slots *s, int cap, size_t i)
{
    s_cap *c = &s->cap[cap];
    long dev = c->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_before(s, cap, dev, c->heap[p]))
            break;
        s_place(s, c, cap, i, c->heap[p]);
        i = p;
    }
    s_place(s, c, cap, i, dev);
}

static void s_down(lab_slots *s, int cap, size_t i)
{
    s_cap *c = &s->cap[cap];
    long dev = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        long best_dev = dev;
        if (l < c->n_heap && s_before(s, cap, c->heap[l], best_dev))
            best = l, best_dev = c->heap[l];
        if (l + 1 < c->n_heap && s_before(s, cap, c->heap[l + 1], best_dev))
            best = l + 1, best_dev = c->heap[l + 1];
        if (best == i)
            break;
        s_place(s, c, cap, i, best_dev);
        i = best;
    }
    s_place(s, c, cap, i, dev);
}

static void s_remove(lab_slots *s, int cap, s_member *m)
{
    s_cap *c = &s->cap[cap];
    size_t i = (size_t)m->pos;
    m->pos = -1;
    long last = c->heap[--c->n_heap];
    if (i == c->n_heap)
        return;
    c->heap[i] = last;
    s_member_of(s, last, cap)->pos = (long)i;
    s_up(s, cap, i);
    s_down(s, cap, (size_t)s_member_of(s, last, cap)->pos);
}

lab_slots *lab_slots_new(size_t n_devices, const char *const *const *caps, const size_t *n_caps, lab_err *err)
{
    lab_slots *s = calloc(1, sizeof *s);
    if (!s || !(s->dev = calloc(n_devices ? n_devices : 1, sizeof *s->dev)))
        goto oom;
    s->n_dev = n_devices;
    size_t room = 0;
    for (size_t i = 0; i < n_devices; i++)
        room += n_caps[i];
    s->cap = calloc(room ? room : 1, sizeof *s->cap);
    if (!s->cap)
        goto oom;
    for (size_t i = 0; i < n_devices; i++) {
        s_dev *d = &s->dev[i];
        d->capacity = 1;
        d->m = calloc(n_caps[i] ? n_caps[i] : 1, sizeof *d->m);
        if (!d->m)
            goto oom;
        for (size_t k = 0; k < n_caps[i]; k++) {
            int id = lab_slots_cap(s, caps[i][k]);
            if (id < 0) {
                id = (int)s->n_cap;
                if (!(s->cap[id].name = strdup(caps[i][k])))
                    goto oom;
                s->n_cap++;
            }
            if (s_member_of(s, (long)i, id))
                continue;            /* named twice */
            d->m[d->n_m++] = (s_member){.cap = id, .pos = -1};
            s->cap[id].n_devices++;
            s->cap[id].n_unheard++;
        }
    }
    for (size_t c = 0; c < s->n_cap; c++) {
        if (!(s->cap[c].heap = calloc(s->cap[c].n_devices, sizeof *s->cap[c].heap)))
            goto oom;
        s->cap[c].turn = (long)((s->cap[c].n_devices + S_TURN_DEVICES - 1) / S_TURN_DEVICES);
    }
    return s;
oom:
    lab_slots_destroy(&s);
    lab_err_set(err, LAB_ENOMEM, "out of memory");
    return NULL;
}

void lab_slots_destroy(lab_slots **sp)
{
    if (!sp || !*sp)
        return;
    lab_slots *s = *sp;
    *sp = NULL;
    for (size_t i = 0; s->dev && i < s->n_dev; i++)
        free(s->dev[i].m);
    for (size_t c = 0; s->cap && c < s->n_cap; c++) {
        free(s->cap[c].name);
        free(s->cap[c].heap);
    }
    free(s->dev);
    free(s->cap);
    free(s);
}

int lab_slots_cap(const lab_slots *s, const char *name)
{
    /* Called when a campaign starts (once per step), not per dispatch. */
    for (size_t c = 0; name && c < s->n_cap; c++)
        if (!strcmp(s->cap[c].name, name))
            return (int)c;
    return -1;
}

void lab_slots_set(lab_slots *s, size_t dev, int online, int used, int capacity, long dispatched)
{
    if (dev >= s->n_dev)
        return;
    s_dev *d = &s->dev[dev];
    int was_online = d->online;
    d->online = online != 0;
    d->used = used;
    d->capacity = capacity;
    d->dispatched = dispatched;
    int now = s_eligible(d);
    for (size_t k = 0; k < d->n_m; k++) {
        s_member *m = &d->m[k];
        s_cap *c = &s->cap[m->cap];
        if (was_online != d->online) {
            if (d->online)
                c->n_online++;
            else
                c->n_online--;
        }
        if (m->pos >= 0 && !now) {
            s_remove(s, m->cap, m);
        } else if (m->pos >= 0) {
            size_t i = (size_t)m->pos;
            s_up(s, m->cap, i);
            s_down(s, m->cap, (size_t)m->pos);
        } else if (now) {
            c->heap[c->n_heap] = (long)dev;
            m->pos = (long)c->n_heap++;
            s_up(s, m->cap, (size_t)m->pos);
        }
    }
}

void lab_slots_end_turn(lab_slots *s, size_t dev)
{
    if (dev >= s->n_dev)
        return;
    s_dev *d = &s->dev[dev];
    for (size_t k = 0; k < d->n_m; k++) {
        s_member *m = &d->m[k];
        long turn = s->cap[m->cap].turn;
        if (turn <= 1)
            continue;
        /* up to the turn's end; an attempt that was the turn's last (a
         * multiple of turn) has nothing left to skip */
        long counted = d->dispatched + m->skipped;
        m->skipped += (turn - counted % turn) % turn;
        if (m->pos >= 0) {           /* later in the order now: only down */
            s_down(s, m->cap, (size_t)m->pos);
        }
    }
}

long lab_slots_pick(const lab_slots *s, int cap, long avoid)
{
    if (cap < 0 || (size_t)cap >= s->n_cap)
        return -1;
    const s_cap *c = &s->cap[cap];
    if (c->n_heap > 0 && c->heap[0] != avoid)
        return c->heap[0];
    /* The first is the device to avoid: the next best is one of its children. */
    if (c->n_heap > 1) {
        long a = c->heap[1];
        if (c->n_heap > 2 && s_before(s, cap, c->heap[2], a))
            a = c->heap[2];
        return a;
    }
    if (avoid < 0 || (size_t)avoid >= s->n_dev)
        return -1;
    s_member *m = s_member_of(s, avoid, cap);
    /* No other device is online for cap: the one to avoid will do. */
    if (m && m->pos >= 0 && c->n_online == 1)
        return avoid;
    return -1;
}

long lab_slots_pick_if(const lab_slots *s, int cap, long avoid, size_t refused_online,
                       int (*ok)(long dev, void *arg), void *arg)
{
    if (cap < 0 || (size_t)cap >= s->n_cap)
        return -1;
    const s_cap *c = &s->cap[cap];
    /* Walk the heap from the top; a device that may be used ends its
     * branch (nothing below it comes first), one that may not opens its
     * children. Costs about the number of refused devices near the top. */
    size_t stack_small[64], *stack = stack_small, n = 0, cap_stack = 64;
    long best = -1;
    if (c->n_heap > 0)
        stack[n++] = 0;
    while (n > 0) {
        size_t i = stack[--n];
        long dev = c->heap[i];
        if (dev != avoid && ok(dev, arg)) {
            if (best < 0 || s_before(s, cap, dev, best))
                best = dev;
            continue;
        }
        for (size_t k = 2 * i + 1; k <= 2 * i + 2 && k < c->n_heap; k++) {
            if (n == cap_stack) {
                size_t *bigger = malloc(2 * cap_stack * sizeof *bigger);
                if (!bigger)
                    break;
                memcpy(bigger, stack, n * sizeof *stack);
                if (stack != stack_small)
                    free(stack);
                stack = bigger;
                cap_stack *= 2;
            }
            stack[n++] = k;
        }
    }
    if (stack != stack_small)
        free(stack);
    if (best >= 0 || avoid < 0 || (size_t)avoid >= s->n_dev || !ok(avoid, arg))
        return best;
    s_member *m = s_member_of(s, avoid, cap);
    /* No other device it may use is online for cap: the one to avoid will do. */
    if (m && m->pos >= 0 && c->n_online == 1 + refused_online)
        return avoid;
    return -1;
}

int lab_slots_offers(const lab_slots *s, size_t dev, int cap)
{
    return dev < s->n_dev && cap >= 0 && s_member_of(s, (long)dev, cap) != NULL;
}

size_t lab_slots_online(const lab_slots *s, int cap)
{
    return cap >= 0 && (size_t)cap < s->n_cap ? s->cap[cap].n_online : 0;
}

void lab_slots_heard(lab_slots *s, size_t dev)
{
    if (dev >= s->n_dev || s->dev[dev].heard)
        return;
    s->dev[dev].heard = 1;
    for (size_t k = 0; k < s->dev[dev].n_m; k++)
        s->cap[s->dev[dev].m[k].cap].n_unheard--;
}

int lab_slots_all_heard(const lab_slots *s, int cap)
{
    return cap < 0 || (size_t)cap >= s->n_cap || s->cap[cap].n_unheard == 0;
}
