/* The planner benchmark's test functions (see testfuncs.h). Optima from the
 * literature (Surjanovic & Bingham's Virtual Library of Simulation
 * Experiments); zdt1's front is f2 = 1 - sqrt(f1), whose hypervolume for the
 * reference point (1.1, 1.1) is 0.11 + 0.1 + 2/3.
 * Not for: noise or lab simulation (sim/).
 */
#include "planners/testfuncs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

#define S_PI 3.14159265358979323846

static double s_branin_v(const double *x)
{
    double a = 1.0, b = 5.1 / (4.0 * S_PI * S_PI), c = 5.0 / S_PI, r = 6.0, s = 10.0,
           t = 1.0 / (8.0 * S_PI);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
    return a * u * u + s * (1.0 - t) * cos(x[0]) + s;
}

static int s_branin(const double *x, double *y)
{
    y[0] = s_branin_v(x);
    return 0;
}

/* Fails left of x0 = -2 (one of branin's three minima is there). */
static int s_branin_c(const double *x, double *y)
{
    if (x[0] < -2.0) {
        y[0] = NAN;
        return 1;
    }
    y[0] = s_branin_v(x);
    return 0;
}

static const double s_h_alpha[4] = {1.0, 1.2, 3.0, 3.2};
static const double s_h3_a[4][3] = {{3, 10, 30}, {0.1, 10, 35}, {3, 10, 30}, {0.1, 10, 35}};
static const double s_h3_p[4][3] = {{0.3689, 0.1170, 0.2673},
                                    {0.4699, 0.4387, 0.7470},
                                    {0.1091, 0.8732, 0.5547},
                                    {0.0381, 0.5743, 0.8828}};
static const double s_h6_a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                    {0.05, 10, 17, 0.1, 8, 14},
                                    {3, 3.5, 1.7, 10, 17, 8},
                                    {17, 8, 0.05, 10, 0.1, 14}};
static const double s_h6_p[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                    {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                    {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                    {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};

static int s_hartmann3(const double *x, double *y)
{
    double f = 0.0;
    for (int i = 0; i < 4; i++) {
        double e = 0.0;
        for (int j = 0; j < 3; j++)
            e += s_h3_a[i][j] * (x[j] - s_h3_p[i][j]) * (x[j] - s_h3_p[i][j]);
        f -= s_h_alpha[i] * exp(-e);
    }
    y[0] = f;
    return 0;
}

static int s_hartmann6(const double *x, double *y)
{
    double f = 0.0;
    for (int i = 0; i < 4; i++) {
        double e = 0.0;
        for (int j = 0; j < 6; j++)
            e += s_h6_a[i][j] * (x[j] - s_h6_p[i][j]) * (x[j] - s_h6_p[i][j]);
        f -= s_h_alpha[i] * exp(-e);
    }
    y[0] = f;
    return 0;
}

static int s_ackley5(const double *x, double *y)
{
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < 5; i++) {
        s1 += x[i] * x[i];
        s2 += cos(2.0 * S_PI * x[i]);
    }
    y[0] = -20.0 * exp(-0.2 * sqrt(s1 / 5.0)) - exp(s2 / 5.0) + 20.0 + exp(1.0);
    return 0;
}

static int s_zdt1(const double *x, double *y)
{
    double g = 1.0 + 9.0 / 2.0 * (x[1] + x[2]);
    y[0] = x[0];
    y[1] = g * (1.0 - sqrt(x[0] / g));
    return 0;
}

static const lab_testfunc s_funcs[] = {
    {"branin", 2, 1, {-5, 0}, {10, 15}, NULL, 0.397887357729738, {0}, s_branin,
     "Branin-Hoo, 2-D, three global minima"},
    {"hartmann3", 3, 1, {0, 0, 0}, {1, 1, 1}, NULL, -3.86278214782076, {0}, s_hartmann3,
     "Hartmann, 3-D, four local minima"},
    {"hartmann6", 6, 1, {0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, NULL, -3.32236801141551,
     {0}, s_hartmann6, "Hartmann, 6-D, six local minima"},
    {"ackley5", 5, 1, {-32.768, -32.768, -32.768, -32.768, -32.768},
     {32.768, 32.768, 32.768, 32.768, 32.768}, NULL, 0.0, {0}, s_ackley5,
     "Ackley, 5-D, highly multimodal"},
    {"branin_c", 2, 1, {-5, 0}, {10, 15}, "x0 + x1 <= 6", 0.397887357729738, {0}, s_branin_c,
     "Branin with x0 + x1 <= 6; experiments fail where x0 < -2"},
    {"zdt1", 3, 2, {0, 0, 0}, {1, 1, 1}, NULL, 0.11 + 0.1 + 2.0 / 3.0, {1.1, 1.1, 0},
     s_zdt1, "ZDT1, 3-D, two objectives; regret = hypervolume gap at ref (1.1, 1.1)"},
};
#define S_N_FUNCS (sizeof s_funcs / sizeof s_funcs[0])

static const char *const s_names[] = {"branin", "hartmann3", "hartmann6", "ackley5",
                                      "branin_c", "zdt1", NULL};

const char *const *lab_testfunc_names(void)
{
    return s_names;
}

const lab_testfunc *lab_testfunc_find(const char *name)
{
    for (size_t i = 0; name && i < S_N_FUNCS; i++)
        if (!strcmp(s_funcs[i].name, name))
            return &s_funcs[i];
    return NULL;
}

lab_space *lab_testfunc_space(const lab_testfunc *f, lab_err *err)
{
    lab_space *s = lab_space_new();
    if (!s) {
        lab_err_set(err, LAB_ENOMEM, "out of memory creating the space of '%s'", f->name);
        return NULL;
    }
    for (size_t i = 0; i < f->d; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%zu", i);
        if (lab_space_add_real(s, name, f->low[i], f->high[i], 0, NULL, err) < 0)
            goto fail;
    }
    if (f->constraint && lab_space_add_constraint(s, f->constraint, err) < 0)
        goto fail;
    return s;
fail:
    lab_space_destroy(&s);
    return NULL;
}
