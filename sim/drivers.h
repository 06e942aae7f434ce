/* Simulated device drivers: a dispenser, a heater (furnace or hot plate) and
 * a spectrometer, with step durations scaled by the lab's speed factor and
 * a configurable failure rate.
 *
 * A simulated sample is a small text file in the lab's samples directory,
 * named after the StepRequest's sample id: the dispenser and the heater
 * append the step's parameters to it ("name=value" lines), and the
 * spectrometer measures the ground-truth model at the conditions the sample
 * has seen. Devices run as separate processes, as in a real lab, so the
 * sample file is what travels between them. Not for: real instruments.
 */
#ifndef LAB_SIM_DRIVERS_H
#define LAB_SIM_DRIVERS_H

#include "devices/driver.h"
#include "sim/lab.h"

/* Make the driver for device dev of lab (both borrowed; they must outlive
 * the driver). *ops and *drv receive the ops table and its state, which
 * ops->destroy frees. Returns 0 or < 0 with err set. */
int lab_sim_driver_new(const lab_sim_lab *lab, const lab_sim_device *dev,
                       const lab_driver_ops **ops, void **drv, lab_err *err);

#endif
