/* The planner benchmark's test functions (see testfuncs.h). Optima from the
 * literature (Surjanovic & Bingham's Virtual Library of Simulation
 * Experiments); zdt1's front is f2 = 1 - sqrt(f1), whose hypervolume for the
 * reference point (1.1, 1.1) is 0.11 + 0.1 + 2/3.
 * Not for: noise or lab simulation (sim/).
 */
#include "planners/testfuncs.h"

#include <math.h>
#include <stdint.h>
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


/* ---- the broader suite: shifted or rotated so that no optimum sits at the
 * centre of the box, a corner or a point of symmetry ---- */

/* Six-hump camel, 2-D, shifted by (0.7, -0.4): minima at s ± (0.0898, -0.7126). */
static int s_sixhump_s(const double *x, double *y)
{
    double a = x[0] - 0.7, b = x[1] + 0.4;
    y[0] = (4.0 - 2.1 * a * a + a * a * a * a / 3.0) * a * a + a * b + (-4.0 + 4.0 * b * b) * b * b;
    return 0;
}

/* Goldstein-Price, 2-D, minimum 3 at (0, -1); values span six decades. */
static int s_goldstein(const double *x, double *y)
{
    double a = x[0], b = x[1];
    double t1 = 1.0 + (a + b + 1.0) * (a + b + 1.0) *
                          (19.0 - 14.0 * a + 3.0 * a * a - 14.0 * b + 6.0 * a * b + 3.0 * b * b);
    double t2 = 30.0 + (2.0 * a - 3.0 * b) * (2.0 * a - 3.0 * b) *
                           (18.0 - 32.0 * a + 12.0 * a * a + 48.0 * b - 36.0 * a * b + 27.0 * b * b);
    y[0] = t1 * t2;
    return 0;
}

/* Michalewicz, 5-D, m = 10, on [0, pi]^5; minimum -4.687658. */
static int s_michalewicz5(const double *x, double *y)
{
    double f = 0.0;
    for (int i = 0; i < 5; i++)
        f -= sin(x[i]) * pow(sin((i + 1) * x[i] * x[i] / S_PI), 20.0);
    y[0] = f;
    return 0;
}

static const double s_rosen_shift[4] = {-0.3, 0.4, -0.6, 0.2};

/* Rosenbrock, 4-D, shifted: minimum 0 at 1 + s (a curved valley). */
static int s_rosenbrock4_s(const double *x, double *y)
{
    double f = 0.0;
    for (int i = 0; i < 3; i++) {
        double a = x[i] - s_rosen_shift[i], b = x[i + 1] - s_rosen_shift[i + 1];
        f += 100.0 * (b - a * a) * (b - a * a) + (1.0 - a) * (1.0 - a);
    }
    y[0] = f;
    return 0;
}

static const double s_ackley_shift[5] = {7.1, -11.3, 4.2, 15.9, -3.6};

/* Ackley, 5-D, shifted: minimum 0 at s. */
static int s_ackley5_s(const double *x, double *y)
{
    double z[5];
    for (int i = 0; i < 5; i++)
        z[i] = x[i] - s_ackley_shift[i];
    return s_ackley5(z, y);
}

static const double s_levy_shift[6] = {2.3, -1.7, 3.1, -2.9, 0.6, -3.8};

/* Levy, 6-D, shifted: minimum 0 at 1 + s. */
static int s_levy6_s(const double *x, double *y)
{
    double w[6];
    for (int i = 0; i < 6; i++)
        w[i] = 1.0 + (x[i] - s_levy_shift[i] - 1.0) / 4.0;
    double f = pow(sin(S_PI * w[0]), 2.0);
    for (int i = 0; i < 5; i++)
        f += (w[i] - 1.0) * (w[i] - 1.0) * (1.0 + 10.0 * pow(sin(S_PI * w[i] + 1.0), 2.0));
    f += (w[5] - 1.0) * (w[5] - 1.0) * (1.0 + pow(sin(2.0 * S_PI * w[5]), 2.0));
    y[0] = f;
    return 0;
}

static const double s_styb_shift[8] = {1.2, 0.4, -0.8, 1.5, 0.1, -0.5, 0.9, -1.3};
#define S_STYB_Z -2.903534027771178

/* Styblinski-Tang, 8-D, shifted: minimum 8 * -39.16616570377142 at z* + s. */
static int s_styblinski8_s(const double *x, double *y)
{
    double f = 0.0;
    for (int i = 0; i < 8; i++) {
        double z = x[i] - s_styb_shift[i];
        f += 0.5 * (z * z * z * z - 16.0 * z * z + 5.0 * z);
    }
    y[0] = f;
    return 0;
}

/* A fixed 10 x 10 rotation: Gram-Schmidt on a matrix of a fixed LCG (no state
 * is kept; it is rebuilt at each call, 10^3 operations). */
static void s_rotation10(double r[10][10])
{
    uint32_t st = 12345u;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            st = st * 1664525u + 1013904223u;
            r[i][j] = (double)(st >> 8) / 16777216.0 - 0.5;
        }
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < i; k++) {
            double dot = 0.0;
            for (int j = 0; j < 10; j++)
                dot += r[i][j] * r[k][j];
            for (int j = 0; j < 10; j++)
                r[i][j] -= dot * r[k][j];
        }
        double nrm = 0.0;
        for (int j = 0; j < 10; j++)
            nrm += r[i][j] * r[i][j];
        nrm = sqrt(nrm);
        for (int j = 0; j < 10; j++)
            r[i][j] /= nrm;
    }
}

static const double s_ell_centre[10] = {0.62, 0.31, 0.47, 0.71, 0.26,
                                        0.55, 0.38, 0.68, 0.43, 0.29};

/* Rotated, shifted ellipsoid, 10-D: sum_i 10^(2 i / 9) (R (x - c))_i^2, minimum 0 at c
 * (axes lengths over two decades, none along a coordinate). */
static int s_ellipsoid10_r(const double *x, double *y)
{
    double r[10][10], f = 0.0;
    s_rotation10(r);
    for (int i = 0; i < 10; i++) {
        double z = 0.0;
        for (int j = 0; j < 10; j++)
            z += r[i][j] * (x[j] - s_ell_centre[j]);
        f += pow(10.0, 2.0 * i / 9.0) * z * z;
    }
    y[0] = f;
    return 0;
}

/* Hartmann-6 whose experiments fail where x0 > 0.8 (the optimum has x0 = 0.20). */
static int s_hartmann6_f(const double *x, double *y)
{
    if (x[0] > 0.8) {
        y[0] = NAN;
        return 1;
    }
    return s_hartmann6(x, y);
}

/* ZDT with g = 1 + 9 / (d - 1) * sum_{i >= 1} (x_i - s_i)^2: the Pareto set is
 * x_i = s_i (inside the box), not the bound x_i = 0 of the textbook ZDT. */
static const double s_zdt_shift[3] = {0.35, 0.62, 0.44};

static double s_zdt_g(const double *x, size_t d)
{
    double sum = 0.0;
    for (size_t i = 1; i < d; i++)
        sum += (x[i] - s_zdt_shift[i - 1]) * (x[i] - s_zdt_shift[i - 1]);
    return 1.0 + 9.0 / (double)(d - 1) * sum;
}

static int s_zdt1_s(const double *x, double *y)
{
    double g = s_zdt_g(x, 4);
    y[0] = x[0];
    y[1] = g * (1.0 - sqrt(x[0] / g));
    return 0;
}

static int s_zdt2_s(const double *x, double *y)
{
    double g = s_zdt_g(x, 4);
    y[0] = x[0];
    y[1] = g * (1.0 - (x[0] / g) * (x[0] / g));
    return 0;
}

static const lab_testfunc s_funcs[] = {
    {"branin", 2, 1, {-5, 0}, {10, 15}, NULL, 0.397887357729738, {0}, s_branin,
     "Branin-Hoo, 2-D, three global minima"},
    /* the often quoted -3.86278214782076 is 2.4e-6 below this function's
     * minimum, which lies at (0.114589, 0.555649, 0.852547) */
    {"hartmann3", 3, 1, {0, 0, 0}, {1, 1, 1}, NULL, -3.862779787332663, {0}, s_hartmann3,
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
    {"sixhump_s", 2, 1, {-3, -2}, {3, 2}, NULL, -1.031628453489877, {0}, s_sixhump_s,
     "six-hump camel, 2-D, shifted by (0.7, -0.4); two global minima"},
    {"goldstein", 2, 1, {-2, -2}, {2, 2}, NULL, 3.0, {0}, s_goldstein,
     "Goldstein-Price, 2-D, minimum at (0, -1); values over six decades"},
    {"rosenbrock4_s", 4, 1, {-2, -2, -2, -2}, {2, 2, 2, 2}, NULL, 0.0, {0}, s_rosenbrock4_s,
     "Rosenbrock, 4-D, shifted; a curved valley"},
    {"michalewicz5", 5, 1, {0, 0, 0, 0, 0}, {S_PI, S_PI, S_PI, S_PI, S_PI}, NULL, -4.6876581790041607,
     {0}, s_michalewicz5, "Michalewicz (m = 10), 5-D, steep narrow valleys"},
    {"ackley5_s", 5, 1, {-32.768, -32.768, -32.768, -32.768, -32.768},
     {32.768, 32.768, 32.768, 32.768, 32.768}, NULL, 0.0, {0}, s_ackley5_s,
     "Ackley, 5-D, shifted off the centre"},
    {"levy6_s", 6, 1, {-10, -10, -10, -10, -10, -10}, {10, 10, 10, 10, 10, 10}, NULL, 0.0, {0},
     s_levy6_s, "Levy, 6-D, shifted"},
    {"hartmann6_f", 6, 1, {0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, NULL, -3.32236801141551, {0},
     s_hartmann6_f, "Hartmann-6; experiments fail where x0 > 0.8"},
    {"styblinski8_s", 8, 1, {-5, -5, -5, -5, -5, -5, -5, -5}, {5, 5, 5, 5, 5, 5, 5, 5}, NULL,
     8 * -39.16616570377142, {0}, s_styblinski8_s, "Styblinski-Tang, 8-D, shifted"},
    {"ellipsoid10_r", 10, 1, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, NULL,
     0.0, {0}, s_ellipsoid10_r, "rotated ellipsoid, 10-D, axes over two decades, off-centre"},
    {"zdt1_s", 4, 2, {0, 0, 0, 0}, {1, 1, 1, 1}, NULL, 0.11 + 0.1 + 2.0 / 3.0, {1.1, 1.1, 0},
     s_zdt1_s, "ZDT1, 4-D, Pareto set inside the box; hypervolume gap at ref (1.1, 1.1)"},
    {"zdt2_s", 4, 2, {0, 0, 0, 0}, {1, 1, 1, 1}, NULL, 0.11 + 0.1 + 1.0 / 3.0, {1.1, 1.1, 0},
     s_zdt2_s, "ZDT2 (concave front), 4-D, Pareto set inside the box; hypervolume gap"},
};
#define S_N_FUNCS (sizeof s_funcs / sizeof s_funcs[0])

static const char *const s_names[] = {
    "branin",    "hartmann3",    "hartmann6", "ackley5",     "branin_c",     "zdt1",
    "sixhump_s", "goldstein",    "rosenbrock4_s", "michalewicz5", "ackley5_s", "levy6_s",
    "hartmann6_f", "styblinski8_s", "ellipsoid10_r", "zdt1_s", "zdt2_s", NULL};

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
