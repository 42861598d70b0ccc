/* test_ldlq.c — BlockLDLQ against a direct implementation, the gain of error
 * feedback on a correlated Hessian, and monotone refinement passes. The
 * quantizer here is the nearest point of a scaled integer grid (codes = ints). */
#include "check.h"
#include "core/internal.h"

typedef struct {
    double step;
    int64_t m, n;
    int b;
    int32_t *codes;  /* m x n final */
    int32_t *stage;  /* m x b staged */
    int G;
} grid_q;

static qtip_status grid_quant(void *user, int64_t block, const float *target, int64_t m, int b,
                              float *recon)
{
    grid_q *g = user;
    for (int64_t i = 0; i < m * b; i++) {
        int32_t c = (int32_t)lrint(target[i] / g->step);
        g->stage[i] = c;
        recon[i] = (float)(c * g->step);
    }
    return QTIP_OK;
}

static void grid_commit(void *user, int64_t block, const uint8_t *accept)
{
    grid_q *g = user;
    for (int64_t i = 0; i < g->m; i++)
        if (!accept || accept[i / g->G])
            for (int c = 0; c < g->b; c++) g->codes[i * g->n + block * g->b + c] = g->stage[i * g->b + c];
}

/* Unit callbacks: unit u's slot in `stage` is rows u*G .. u*G+G-1 of an m x b
 * staging matrix, so concurrent calls for disjoint units never collide. */
static qtip_status grid_quant_units(void *user, int64_t block, const int64_t *units, int64_t count,
                                    const float *target, float *recon)
{
    grid_q *g = user;
    (void)block;
    for (int64_t l = 0; l < count; l++)
        for (int r = 0; r < g->G; r++)
            for (int c = 0; c < g->b; c++) {
                int64_t at = (l * g->G + r) * g->b + c, row = units[l] * g->G + r;
                int32_t q = (int32_t)lrint(target[at] / g->step);
                g->stage[row * g->b + c] = q;
                recon[at] = (float)(q * g->step);
            }
    return QTIP_OK;
}

static void grid_commit_units(void *user, int64_t block, const int64_t *units, int64_t count)
{
    grid_q *g = user;
    for (int64_t l = 0; l < count; l++)
        for (int r = 0; r < g->G; r++) {
            int64_t row = units[l] * g->G + r;
            for (int c = 0; c < g->b; c++)
                g->codes[row * g->n + block * g->b + c] = g->stage[row * g->b + c];
        }
}

/* Which callbacks cfg_of installs: 0 block callbacks only, 1 also the unit ones. */
static int use_units;

/* AR(1) covariance rho^|i-j| plus a small ridge: strongly non-diagonal. */
static double *ar1(int64_t n, double rho)
{
    double *H = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) H[i * n + j] = pow(rho, (double)llabs(i - j));
    return H;
}

typedef struct {
    int64_t m, n;
    int b;
    double *Hr, *Lu, *D, *Lc;
    float *W, *What;
    grid_q g;
} fixture;

static void fixture_init(fixture *f, test_rng *r, int64_t m, int64_t n, int b, double rho, int G)
{
    f->m = m; f->n = n; f->b = b;
    f->Hr = ar1(n, rho);
    f->Lc = malloc(sizeof(double) * (size_t)(n * n));
    f->Lu = malloc(sizeof(double) * (size_t)(n * n));
    f->D = malloc(sizeof(double) * (size_t)(n * b));
    double damp;
    CHECK_OK(qtip_ldl_regularize(f->Hr, n, 0.01, 10, f->Lc, &damp));
    CHECK_OK(qtip_ldl_block(f->Lc, n, b, f->Lu, f->D));
    f->W = malloc(sizeof(float) * (size_t)(m * n));
    f->What = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) f->W[i] = (float)test_rng_normal(r);
    f->g.step = 0.6; f->g.m = m; f->g.n = n; f->g.b = b; f->g.G = G;
    f->g.codes = calloc((size_t)(m * n), sizeof(int32_t));
    f->g.stage = calloc((size_t)(m * b), sizeof(int32_t));
}

static void fixture_free(fixture *f)
{
    free(f->Hr); free(f->Lc); free(f->Lu); free(f->D); free(f->W); free(f->What);
    free(f->g.codes); free(f->g.stage);
}

static qtip_ldlq_config cfg_of(fixture *f, int feedback, int passes)
{
    qtip_ldlq_config c;
    memset(&c, 0, sizeof c);
    if (use_units) {
        c.quant_units = grid_quant_units;
        c.commit_units = grid_commit_units;
    }
    c.b = f->b; c.group_rows = f->g.G; c.feedback = feedback; c.refine_passes = passes;
    c.quant = grid_quant; c.commit = grid_commit; c.user = &f->g;
    return c;
}

/* Straightforward proxy loss in double, independent of the library. */
static double proxy(const fixture *f, const float *What)
{
    double err = 0, ref = 0;
    int64_t n = f->n;
    for (int64_t i = 0; i < f->m; i++)
        for (int64_t a = 0; a < n; a++) {
            double da = (double)f->W[i * n + a] - What[i * n + a];
            for (int64_t c = 0; c < n; c++) {
                double dc = (double)f->W[i * n + c] - What[i * n + c];
                err += da * f->Hr[a * n + c] * dc;
                ref += (double)f->W[i * n + a] * f->Hr[a * n + c] * f->W[i * n + c];
            }
        }
    return err / ref;
}

TEST(matches_direct_ldlq)
{
    /* n = 256 crosses the 128-column buffer boundary of the library. */
    test_rng r = test_rng_seeded(21);
    fixture f;
    fixture_init(&f, &r, 32, 256, 16, 0.9, 1);
    qtip_ldlq_config cf = cfg_of(&f, 1, 0);
    CHECK_OK(qtip_ldlq_run(&cf, f.W, f.m, f.n, f.Lu, NULL, f.What, NULL));
    /* direct: target_k = W_k + sum_{j>k} E_j Lu[j, k], in double */
    int64_t m = f.m, n = f.n;
    double *E = calloc((size_t)(m * n), sizeof(double));
    int64_t same = 0;
    for (int64_t k0 = n - 16; k0 >= 0; k0 -= 16)
        for (int64_t i = 0; i < m; i++)
            for (int c = 0; c < 16; c++) {
                double t = f.W[i * n + k0 + c];
                for (int64_t j = k0 + 16; j < n; j++) t += E[i * n + j] * f.Lu[j * n + k0 + c];
                double q = lrint(t / f.g.step) * f.g.step;
                E[i * n + k0 + c] = (double)f.W[i * n + k0 + c] - q;
                same += fabs(q - f.What[i * n + k0 + c]) < 1e-6;
            }
    /* float vs double feedback may flip a rare near-tie; nearly all must agree */
    CHECK(same >= (m * n) * 99 / 100, "%lld of %lld agree", (long long)same, (long long)(m * n));
    for (int64_t i = 0; i < m * n; i++)
        CHECK(f.What[i] == (float)(f.g.codes[i] * f.g.step), "codes committed at %lld", (long long)i);
    free(E);
    fixture_free(&f);
}

TEST(feedback_beats_plain_rounding)
{
    test_rng r = test_rng_seeded(22);
    fixture f;
    fixture_init(&f, &r, 64, 128, 16, 0.95, 4);
    qtip_ldlq_config c0 = cfg_of(&f, 0, 0), c1 = cfg_of(&f, 1, 0);
    CHECK_OK(qtip_ldlq_run(&c0, f.W, f.m, f.n, f.Lu, NULL, f.What, NULL));
    double plain = proxy(&f, f.What);
    CHECK_OK(qtip_ldlq_run(&c1, f.W, f.m, f.n, f.Lu, NULL, f.What, NULL));
    double ldlq = proxy(&f, f.What);
    fprintf(stderr, "grid step %.2f, AR(1) 0.95: plain %.5f, LDLQ %.5f\n", f.g.step, plain, ldlq);
    CHECK(ldlq < 0.7 * plain, "LDLQ %.5f not clearly below plain %.5f", ldlq, plain);
    fixture_free(&f);
}

TEST(refinement_passes_never_increase)
{
    test_rng r = test_rng_seeded(23);
    fixture f;
    fixture_init(&f, &r, 64, 128, 8, 0.95, 1);
    double prev = INFINITY, first = 0, losses[5];
    for (int p = 0; p <= 4; p++) {
        qtip_ldlq_config c = cfg_of(&f, 1, p);
        CHECK_OK(qtip_ldlq_run(&c, f.W, f.m, f.n, f.Lu, f.Hr, f.What, losses));
        double l = proxy(&f, f.What);
        CHECK(l <= prev * (1 + 1e-9), "pass %d: %.8f > %.8f", p, l, prev);
        CHECK_NEAR(losses[p], l, 1e-6 * l);
        for (int64_t i = 0; i < f.m * f.n; i++)
            if (f.What[i] != (float)(f.g.codes[i] * f.g.step)) {
                CHECK(0, "pass %d: committed codes disagree with the reconstruction at %lld", p, (long long)i);
                break;
            }
        if (p == 0) first = l;
        prev = l;
        fprintf(stderr, "passes %d: proxy %.6f\n", p, l);
    }
    CHECK(prev < first, "refinement must lower the loss: %.6f vs %.6f", prev, first);
    /* against plain rounding */
    qtip_ldlq_config c0 = cfg_of(&f, 0, 0);
    CHECK_OK(qtip_ldlq_run(&c0, f.W, f.m, f.n, f.Lu, NULL, f.What, NULL));
    double plain = proxy(&f, f.What);
    CHECK(prev < 0.7 * plain, "LDLQ + refinement %.5f vs plain %.5f", prev, plain);
    fixture_free(&f);
}

TEST(tile_orders_are_permutations)
{
    qtip_trellis_params p;
    memset(&p, 0, sizeof p);
    p.L = 16; p.K = 2; p.V = 2; p.Q = 9; p.code = QTIP_CODE_HYB; p.td_x = 16; p.td_y = 16;
    int order[256], seen[256] = {0};
    CHECK(qtip_trellis_tile_is_mma(&p), "kernel config");
    qtip_trellis_tile_order(&p, order);
    for (int j = 0; j < 256; j++) seen[order[j]]++;
    for (int j = 0; j < 256; j++) CHECK(seen[j] == 1, "element %d", j);
    /* digest 3.4: lane q = j/8 = b*4 + d; j = 37 -> b=1, d=0, h=1, a=0, e=1 -> (1, 9) */
    CHECK(order[37] == 1 * 16 + 9, "order[37] = %d", order[37]);
    CHECK(order[2] == 8 * 16 + 0, "order[2] = %d", order[2]);
    p.code = QTIP_CODE_1MAD; p.V = 1; p.Q = 0;
    qtip_trellis_tile_order(&p, order);
    CHECK(!qtip_trellis_tile_is_mma(&p) && order[37] == 37, "row-major");
}

/* The unit path gives byte-identical results for 1, 2 and 3 threads (rows are
 * split differently among threads each time). */
TEST(unit_path_thread_independent)
{
    test_rng r = test_rng_seeded(24);
    fixture f;
    fixture_init(&f, &r, 48, 256, 8, 0.95, 1);
    float *ref = malloc(sizeof(float) * (size_t)(f.m * f.n));
    double l1[4], lt[4];
    int old = qtip_get_threads();
    for (int t = 1; t <= 3; t++) {
        qtip_set_threads(t);
        qtip_ldlq_config c = cfg_of(&f, 1, 3);
        CHECK_OK(qtip_ldlq_run(&c, f.W, f.m, f.n, f.Lu, f.Hr, f.What, t == 1 ? l1 : lt));
        if (t == 1) memcpy(ref, f.What, sizeof(float) * (size_t)(f.m * f.n));
        else {
            CHECK(memcmp(ref, f.What, sizeof(float) * (size_t)(f.m * f.n)) == 0, "threads %d differ", t);
            CHECK(memcmp(l1, lt, sizeof l1) == 0, "losses differ at threads %d", t);
        }
    }
    qtip_set_threads(old);
    free(ref);
    fixture_free(&f);
}

/* --- errors raised on worker threads reach the caller --------------------------
 * Messages are thread-local; qtip_ldlq_run runs the unit callbacks on OpenMP
 * workers, so the message must be carried back, and the lowest failing row's
 * message must win whatever the thread count. The callback is the real E8P
 * search (one 8-vector per row: b = 8, one row per unit). */
typedef struct {
    qtip_e8p *cb;
    int64_t m;
    uint32_t *stage;     /* m codes of the current block */
    int *block0_visits;  /* per row: calls that covered block 0 */
    int64_t fail_rows[2]; /* rows that fail on their second visit of block 0 (refinement) */
} e8p_user;

static qtip_status e8p_units(void *user, int64_t block, const int64_t *units, int64_t count,
                             const float *target, float *recon)
{
    e8p_user *u = user;
    for (int64_t l = 0; l < count; l++) {
        int64_t row = units[l];
        if (block == 0 && ++u->block0_visits[row] == 2 &&
            (row == u->fail_rows[0] || row == u->fail_rows[1]))
            return qtip_error(QTIP_E_INTERNAL, "row %lld: injected refinement failure", (long long)row);
        qtip_status st = qtip_e8p_quantize(u->cb, target + 8 * l, 1, &u->stage[row], recon + 8 * l);
        if (st != QTIP_OK) {
            qtip_error_prefix("row %lld", (long long)row);
            return st;
        }
    }
    return QTIP_OK;
}

static void e8p_commit_units(void *user, int64_t block, const int64_t *units, int64_t count)
{
    (void)user; (void)block; (void)units; (void)count;
}

TEST(worker_error_message_reaches_caller)
{
    test_rng r = test_rng_seeded(25);
    const int64_t m = 64, n = 32;
    fixture f;
    fixture_init(&f, &r, m, n, 8, 0.9, 1);
    for (int64_t i = 0; i < m * n; i++) f.W[i] *= 0.5f;
    e8p_user u;
    memset(&u, 0, sizeof u);
    u.m = m;
    u.fail_rows[0] = u.fail_rows[1] = -1;
    CHECK_OK(qtip_e8p_create(QTIP_E8P12, &u.cb));
    u.stage = calloc((size_t)m, sizeof(uint32_t));
    u.block0_visits = calloc((size_t)m, sizeof(int));
    qtip_ldlq_config c;
    memset(&c, 0, sizeof c);
    c.b = 8; c.group_rows = 1; c.feedback = 1; c.user = &u;
    c.quant_units = e8p_units; c.commit_units = e8p_commit_units;
    int old = qtip_get_threads();

    /* NaN in rows 53 and 37 of the last column block (the first the sweep codes):
     * with 4 threads both rows belong to workers other than the caller's. */
    f.W[53 * n + n - 3] = NAN;
    f.W[37 * n + n - 1] = NAN;
    char first[512] = "";
    for (int t = 1; t <= 4; t *= 2) {
        qtip_set_threads(t);
        qtip_clear_error();
        qtip_status st = qtip_ldlq_run(&c, f.W, m, n, f.Lu, NULL, f.What, NULL);
        const char *msg = qtip_last_error();
        fprintf(stderr, "  threads %d: %s: %s\n", t, qtip_status_name(st), msg);
        CHECK(st == QTIP_E_NONFINITE, "threads %d: status %s, expected nonfinite", t,
              qtip_status_name(st));
        CHECK(strncmp(msg, "row 37: ", 8) == 0 && strstr(msg, "coordinate 7") && strstr(msg, "nan"),
              "threads %d: message '%s' does not name row 37's NaN", t, msg);
        if (t == 1) snprintf(first, sizeof first, "%s", msg);
        else CHECK(strcmp(first, msg) == 0, "threads %d: message '%s' differs from '%s'", t, msg, first);
    }

    /* A failure inside the refinement passes (their own parallel loop). */
    f.W[53 * n + n - 3] = 0.1f;
    f.W[37 * n + n - 1] = 0.1f;
    u.fail_rows[0] = 50;
    u.fail_rows[1] = 19;
    c.refine_passes = 1;
    for (int t = 1; t <= 4; t *= 2) {
        qtip_set_threads(t);
        memset(u.block0_visits, 0, sizeof(int) * (size_t)m);
        qtip_clear_error();
        qtip_status st = qtip_ldlq_run(&c, f.W, m, n, f.Lu, f.Hr, f.What, NULL);
        const char *msg = qtip_last_error();
        CHECK(st == QTIP_E_INTERNAL && strcmp(msg, "row 19: injected refinement failure") == 0,
              "threads %d, refinement: %s '%s'", t, qtip_status_name(st), msg);
    }
    qtip_set_threads(old);
    qtip_e8p_free(u.cb);
    free(u.stage);
    free(u.block0_visits);
    fixture_free(&f);
}

int main(void)
{
    for (use_units = 0; use_units <= 1; use_units++) {
        fprintf(stderr, "== %s callbacks\n", use_units ? "unit" : "block");
        RUN(matches_direct_ldlq);
        RUN(feedback_beats_plain_rounding);
        RUN(refinement_passes_never_increase);
    }
    use_units = 1;
    RUN(unit_path_thread_independent);
    RUN(tile_orders_are_permutations);
    RUN(worker_error_message_reaches_caller);
    return check_summary();
}
