/* The null driver (see null.h): finishes every step at once, echoing its
 * numeric parameters as values, so a campaign's objectives can be read. */
#include "devices/drivers/null.h"

#include "protocols/envelope.h"
#include "common/banned.h"

static int s_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    (void)drv;
    (void)loop;
    (void)err;
    for (size_t i = 0; i < lab_step_n_params(step); i++) {
        const Labloop__Param *p = lab_step_param_at(step, i);
        double v;
        if (lab_param_to_double(p, &v) == 0)
            lab_step_add_number(step, p->name, v, NULL);
    }
    lab_step_finish(step, LAB_STEP_DONE, NULL);
    return 0;
}

const lab_driver_ops lab_null_driver_ops = {.name = "null", .start = s_start};
