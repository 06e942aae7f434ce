/* `labloop sim`: the simulated lab's launcher (sim/launcher.c), given the
 * one thing it cannot know by itself: how a campaign names the model's
 * output (`--truth --campaign C.yaml` prints the optimum as that campaign's
 * objective, with its unit). The launcher stays free of campaign configs. */
#include <stdio.h>
#include <string.h>

#include "orchestrator/cli/commands.h"
#include "orchestrator/config.h"
#include "sim/launcher.h"
#include "common/banned.h"

static int s_objective(const char *campaign_path, const char *out, char *name, size_t name_size, char *unit,
                       size_t unit_size)
{
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load(campaign_path, stderr, &err);
    if (!cfg)
        return -1;
    int found = 1;
    for (size_t i = 0; i < cfg->n_objectives && found; i++) {
        const lab_cfg_objective *ob = &cfg->objectives[i];
        if (ob->from_value && !strcmp(ob->from_value, out)) {
            snprintf(name, name_size, "%s", ob->name);
            snprintf(unit, unit_size, "%s", ob->unit ? ob->unit : "");
            found = 0;
        }
    }
    lab_config_destroy(&cfg);
    return found;
}

int lab_cmd_sim_main(int argc, char **argv)
{
    return lab_cmd_sim(argc, argv, s_objective);
}
