/* Exclusive devices and the queue of waiting campaigns (see orch_int.h,
 * share.c's section). */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "orchestrator/orch_int.h"
#include "common/banned.h"

static int s_active(const lab_camp *c)
{
    return !c->finished && !c->queued;
}

/* Does cfg name device name in campaign.exclusive? */
static int s_asks(const lab_campaign_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_exclusive; i++)
        if (!strcmp(cfg->exclusive[i], name))
            return 1;
    return 0;
}

int lab_share_check_submit(lab_orch *o, const lab_campaign_cfg *cfg, lab_err *err)
{
    for (size_t i = 0; i < cfg->n_exclusive; i++) {
        if (!lab_orch_device(o, cfg->exclusive[i]))
            return lab_err_set(err, LAB_EINVAL, "%s: campaign.exclusive: lab '%s' has no device '%s'", cfg->path,
                               o->cfg->name, cfg->exclusive[i]);
        for (lab_camp *k = o->camps; k; k = k->next)
            if (!k->finished && s_asks(k->cfg, cfg->exclusive[i]))
                return lab_err_set(err, LAB_ESTATE,
                                   "device '%s' is held exclusively by campaign '%s' (%s) until that campaign ends; "
                                   "submit again then, or leave the device out of campaign.exclusive",
                                   cfg->exclusive[i], k->cfg->name, lab_camp_state_name(k));
    }
    return 0;
}

int lab_share_must_queue(const lab_orch *o)
{
    if (o->single)
        return 0;
    if (lab_share_estopped(o))
        return 1;                /* nothing starts on an e-stopped lab: it waits until the e-stop is cleared */
    if (o->cfg->max_campaigns <= 0)
        return 0;
    long active = 0;
    for (const lab_camp *c = o->camps; c; c = c->next) {
        if (c->queued)
            return 1;            /* first in, first out: behind those already waiting */
        active += !c->finished;
    }
    return active >= o->cfg->max_campaigns;
}

void lab_share_take(lab_orch *o, lab_camp *c)
{
    if (o->single || !c->cfg->n_exclusive || c->holds)
        return;
    if (!o->excl_owner) {
        size_t n = o->cfg->n_devices ? o->cfg->n_devices : 1;
        o->excl_owner = calloc(n, sizeof *o->excl_owner);
        o->excl_devs = calloc(n, sizeof *o->excl_devs);
        if (!o->excl_owner || !o->excl_devs) {
            lab_orch_fatal(o, "holding exclusive devices: out of memory");
            return;
        }
    }
    for (size_t i = 0; i < c->cfg->n_exclusive; i++) {
        lab_device *d = lab_orch_device(o, c->cfg->exclusive[i]);
        if (!d || o->excl_owner[d->idx] == c)
            continue;
        if (o->excl_owner[d->idx]) {      /* checked at submit; a changed lab config could still do it */
            lab_warn("campaign '%s': device '%s' is held exclusively by campaign '%s'; it is shared with it",
                     c->cfg->name, d->cfg->name, o->excl_owner[d->idx]->cfg->name);
            continue;
        }
        o->excl_owner[d->idx] = c;
        o->excl_devs[o->n_excl++] = d->idx;
        lab_camp_event(c, LAB_EV_DEVICE_EXCLUSIVE, d->cfg->name,
                       json_pack("{s:s, s:s, s:b}", "device", d->cfg->name, "campaign", c->cfg->name, "held", 1));
    }
    c->holds = 1;
}

void lab_share_release(lab_orch *o, lab_camp *c)
{
    if (!c->holds || !o->excl_owner)
        return;
    for (size_t k = o->n_excl; k-- > 0;) {
        size_t i = o->excl_devs[k];
        if (o->excl_owner[i] != c)
            continue;
        o->excl_owner[i] = NULL;
        o->excl_devs[k] = o->excl_devs[--o->n_excl];
        lab_camp_event(c, LAB_EV_DEVICE_EXCLUSIVE, o->cfg->devices[i].name,
                       json_pack("{s:s, s:s, s:b}", "device", o->cfg->devices[i].name, "campaign", c->cfg->name,
                                 "held", 0));
    }
    c->holds = 0;
}

static void s_start(lab_orch *o, lab_camp *c)
{
    c->queued = 0;
    lab_orch_campaign_activated(o, c);
    lab_share_take(o, c);
    if (lab_hub_set_campaign_status(o->hub, c->campaign_id, lab_camp_state_name(c), lab_orch_now()) < 0)
        lab_orch_fatal(o, "recording the campaign status");
    lab_camp_event(c, LAB_EV_CAMPAIGN_STATUS, c->cfg->name,
                   json_pack("{s:s, s:s}", "status", lab_camp_state_name(c), "reason", "started from the queue"));
    lab_info("campaign '%s' started from the queue", c->cfg->name);
    if (o->opts.progress) {
        fprintf(o->opts.progress, "campaign %s started from the queue\n", c->cfg->name);
        fflush(o->opts.progress);
    }
}

int lab_share_estopped(const lab_orch *o)
{
    if (o->estopped)
        return 1;
    for (const lab_camp *c = o->camps; c; c = c->next)
        if (!c->finished && !c->queued && c->state == LAB_CAMP_HALTED)
            return 1;            /* read back halted at a restart */
    return 0;
}

int lab_share_start_queued(lab_orch *o)
{
    if (o->single || o->stopping || o->fatal || lab_share_estopped(o))
        return 0;                /* e-stopped: nothing starts until it is cleared */
    long active = 0;
    lab_camp *next = NULL;
    for (lab_camp *c = o->camps; c; c = c->next) {
        active += s_active(c);
        if (c->queued && !c->end_status && !next)
            next = c;
    }
    int started = 0;
    while (next && (o->cfg->max_campaigns <= 0 || active < o->cfg->max_campaigns)) {
        s_start(o, next);
        active++;
        started++;
        lab_camp *c = next->next;
        while (c && !(c->queued && !c->end_status))
            c = c->next;
        next = c;
    }
    return started;
}

long lab_share_queue_position(const lab_orch *o, const lab_camp *c)
{
    if (!c->queued)
        return 0;
    long pos = 0;
    for (const lab_camp *k = o->camps; k; k = k->next) {
        pos += k->queued && !k->end_status;
        if (k == c)
            return pos;
    }
    return 0;
}

static int s_may_use(long dev, void *arg)
{
    lab_camp *c = arg;
    lab_camp *h = c->lab->excl_owner[dev];
    return !h || h == c;
}

long lab_share_pick(lab_camp *camp, int cap, long avoid)
{
    lab_orch *o = camp->lab;
    if (!o->n_excl)
        return lab_slots_pick(o->slots, cap, avoid);
    size_t refused_online = 0;
    for (size_t k = 0; avoid >= 0 && k < o->n_excl; k++) {
        size_t i = o->excl_devs[k];
        lab_camp *h = o->excl_owner[i];
        const lab_device *d = &o->devices[i];
        if (h && h != camp && d->state == LAB_DEV_READY && d->welcomed && lab_slots_offers(o->slots, i, cap))
            refused_online++;
    }
    return lab_slots_pick_if(o->slots, cap, avoid, refused_online, s_may_use, camp);
}

lab_camp *lab_share_holder(const lab_orch *o, size_t i)
{
    return o->excl_owner && i < o->cfg->n_devices ? o->excl_owner[i] : NULL;
}

void lab_share_free(lab_orch *o)
{
    free(o->excl_owner);
    free(o->excl_devs);
    o->excl_owner = NULL;
    o->excl_devs = NULL;
    o->n_excl = 0;
}
