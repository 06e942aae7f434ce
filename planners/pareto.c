/* Pareto front and hypervolume (2 or 3 minimised objectives). See pareto.h.
 * m = 2: sort by the first objective, sweep. m = 3: slice along the third
 * objective and add the 2-D volume of each slab. Not for: m > 3.
 */
#include "planners/pareto.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static int s_dominates(const double *a, const double *b, size_t m)
{
    int strict = 0;
    for (size_t j = 0; j < m; j++) {
        if (a[j] > b[j])
            return 0;
        if (a[j] < b[j])
            strict = 1;
    }
    return strict;
}

size_t lab_pareto_front(size_t n, size_t m, const double *y, unsigned char *front)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t j = 0; j < n && keep; j++) {
            if (j == i)
                continue;
            if (s_dominates(y + j * m, y + i * m, m))
                keep = 0;
            else if (j < i && !memcmp(y + j * m, y + i * m, m * sizeof *y))
                keep = 0;
        }
        front[i] = (unsigned char)keep;
        count += (size_t)keep;
    }
    return count;
}

typedef struct {
    double a, b;
} s_pt2;

static int s_cmp2(const void *x, const void *y)
{
    const s_pt2 *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

/* 2-D hypervolume of pts (already inside the reference box); sorts pts. */
static double s_hv2(s_pt2 *pts, size_t n, double r0, double r1)
{
    qsort(pts, n, sizeof *pts, s_cmp2);
    double hv = 0.0, cur = r1;
    for (size_t i = 0; i < n; i++) {
        if (pts[i].b < cur) {
            hv += (r0 - pts[i].a) * (cur - pts[i].b);
            cur = pts[i].b;
        }
    }
    return hv;
}

typedef struct {
    double c;
    size_t i;
} s_key;

static int s_cmpk(const void *x, const void *y)
{
    const s_key *p = x, *q = y;
    return (p->c > q->c) - (p->c < q->c);
}

double lab_pareto_hypervolume(size_t n, size_t m, const double *y, const double *ref)
{
    if (m < 2 || m > 3)
        return -1.0;
    s_pt2 *pts = malloc((n ? n : 1) * sizeof *pts);
    s_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!pts || !keys) {
        free(pts);
        free(keys);
        return -1.0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = y + i * m;
        int in = 1;
        for (size_t j = 0; j < m; j++)
            if (!(p[j] < ref[j]))
                in = 0;
        if (in)
            keys[k++] = (s_key){m == 3 ? p[2] : 0.0, i};
    }
    double hv = 0.0;
    if (m == 2) {
        for (size_t i = 0; i < k; i++)
            pts[i] = (s_pt2){y[keys[i].i * 2], y[keys[i].i * 2 + 1]};
        hv = s_hv2(pts, k, ref[0], ref[1]);
    } else {
        qsort(keys, k, sizeof *keys, s_cmpk);
        for (size_t s = 0; s < k; s++) {
            double lo = keys[s].c, hi = s + 1 < k ? keys[s + 1].c : ref[2];
            if (hi <= lo)
                continue;
            for (size_t i = 0; i <= s; i++)
                pts[i] = (s_pt2){y[keys[i].i * 3], y[keys[i].i * 3 + 1]};
            hv += (hi - lo) * s_hv2(pts, s + 1, ref[0], ref[1]);
        }
    }
    free(pts);
    free(keys);
    return hv;
}
