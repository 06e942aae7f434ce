/* Rate limit of message.bad rows per peer (see badmsg.h). */
#include "orchestrator/badmsg.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

static void s_close_window(lab_badmsg_peer *p, lab_badmsg_fn fn, void *arg)
{
    if (p->suppressed && fn)
        fn(p->id, p->suppressed, arg);
    p->suppressed = 0;
    p->recorded = 0;
}

static lab_badmsg_peer *s_find(const lab_badmsg *b, const char *peer)
{
    for (size_t i = 0; i < LAB_BADMSG_PEERS; i++)
        if (b->peers[i].window_us && !strncmp(b->peers[i].id, peer, sizeof b->peers[i].id - 1))
            return (lab_badmsg_peer *)&b->peers[i];
    return NULL;
}

int lab_badmsg_allow(lab_badmsg *b, const char *peer, int64_t now_us, lab_badmsg_fn fn, void *arg)
{
    if (now_us <= 0)
        now_us = 1;                                /* 0 marks a free slot */
    lab_badmsg_peer *p = s_find(b, peer ? peer : "");
    if (!p) {
        p = &b->peers[0];                          /* a free slot, else the least recent peer */
        for (size_t i = 0; i < LAB_BADMSG_PEERS; i++) {
            if (!b->peers[i].window_us) {
                p = &b->peers[i];
                break;
            }
            if (b->peers[i].last_us < p->last_us)
                p = &b->peers[i];
        }
        if (p->window_us)
            s_close_window(p, fn, arg);
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", peer ? peer : "");
        p->window_us = now_us;
    } else if (now_us - p->window_us >= LAB_BADMSG_WINDOW_US) {
        s_close_window(p, fn, arg);
        p->window_us = now_us;
    }
    p->last_us = now_us;
    if (p->recorded < LAB_BADMSG_BURST) {
        p->recorded++;
        return 1;
    }
    p->suppressed++;
    return 0;
}

int lab_badmsg_quiet(const lab_badmsg *b, const char *peer)
{
    const lab_badmsg_peer *p = s_find(b, peer ? peer : "");
    return p && p->suppressed > 0;
}

void lab_badmsg_flush(lab_badmsg *b, int64_t now_us, int all, lab_badmsg_fn fn, void *arg)
{
    for (size_t i = 0; i < LAB_BADMSG_PEERS; i++) {
        lab_badmsg_peer *p = &b->peers[i];
        if (p->window_us && (all || now_us - p->window_us >= LAB_BADMSG_WINDOW_US)) {
            s_close_window(p, fn, arg);
            p->window_us = 0;                      /* free: the next bad message starts afresh */
        }
    }
}
