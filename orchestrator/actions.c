/* A campaign's list of actions and the memory of their strings (actions.h). */
#include <stdlib.h>
#include <string.h>

#include "orchestrator/actions.h"
#include "common/banned.h"

#define S_BLOCK 8192

struct lab_arena_block {
    lab_arena_block *next;
    size_t used, size;
    char data[];
};

lab_action *lab_actions_add(lab_actions *l, lab_action_kind kind)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        lab_action *a = realloc(l->a, cap * sizeof *a);
        if (!a) {
            l->oom = 1;
            return NULL;
        }
        l->a = a;
        l->cap = cap;
    }
    lab_action *a = &l->a[l->n++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    return a;
}

const char *lab_actions_str(lab_actions *l, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    lab_arena_block *b = l->blocks;
    if (!b || b->size - b->used < len) {
        /* a new block in front; a full one stays behind it until the clear */
        size_t size = len > S_BLOCK ? len : S_BLOCK;
        lab_arena_block *nb = malloc(sizeof *nb + size);
        if (!nb) {
            l->oom = 1;
            return NULL;
        }
        nb->used = 0;
        nb->size = size;
        nb->next = b;
        l->blocks = b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, s, len);
    b->used += len;
    return p;
}

void lab_actions_clear(lab_actions *l)
{
    for (size_t i = 0; i < l->n; i++) {
        lab_action *a = &l->a[i];
        json_decref(a->detail);
        for (size_t k = 0; a->params && k < a->n_params; k++)
            lab_param_free(a->params[k]);
        free(a->params);
    }
    l->n = 0;
    l->oom = 0;
    /* keep the first block (the newest), free the rest */
    if (l->blocks) {
        lab_arena_block *b = l->blocks->next;
        while (b) {
            lab_arena_block *next = b->next;
            free(b);
            b = next;
        }
        l->blocks->next = NULL;
        l->blocks->used = 0;
    }
}

void lab_actions_free(lab_actions *l)
{
    lab_actions_clear(l);
    free(l->blocks);
    free(l->a);
    memset(l, 0, sizeof *l);
}

const char *lab_action_name(lab_action_kind kind)
{
    static const char *const names[] = {
        [LAB_ACT_REQUEST] = "request", [LAB_ACT_CANCEL] = "cancel", [LAB_ACT_ACK] = "ack",
        [LAB_ACT_EXPERIMENT] = "experiment", [LAB_ACT_EXPERIMENT_STATUS] = "experiment_status",
        [LAB_ACT_STEP] = "step", [LAB_ACT_STEP_STATUS] = "step_status", [LAB_ACT_STEP_COUNTED] = "step_counted",
        [LAB_ACT_SAMPLE_AT] = "sample_at", [LAB_ACT_ARTIFACT] = "artifact", [LAB_ACT_EVENT] = "event",
        [LAB_ACT_DONE] = "done", [LAB_ACT_BRAKE] = "brake", [LAB_ACT_ENDED] = "ended",
    };
    return (size_t)kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "?";
}
