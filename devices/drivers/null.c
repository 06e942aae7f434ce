/* The null driver (see null.h). */
#include "devices/drivers/null.h"
#include "common/banned.h"

static int s_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    (void)drv;
    (void)loop;
    (void)err;
    lab_step_finish(step, LAB_STEP_DONE, NULL);
    return 0;
}

const lab_driver_ops lab_null_driver_ops = {"null", s_start, NULL, NULL};
