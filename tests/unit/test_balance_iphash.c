/* ip-hash (rendezvous): a client keeps its backend, clients spread evenly,
 * and a backend going down or coming back moves only its own clients.
 * Also balancer_hash against the published FNV-1a test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define NB 4
#define CLIENTS 3000
#include "balance_fixture.h"

static int setup(void **state)
{
    (void)state;
    return fixture_setup(POLICY_IP_HASH);
}

/* The hash of client c: its IPv4 address 10.0.x.y as the proxy would hash
 * it, four bytes in network order. Consecutive addresses on purpose. */
static uint32_t client(int c)
{
    unsigned char a[4] = {10, 0, (unsigned char)(c >> 8), (unsigned char)c};

    return balancer_hash(a, sizeof(a));
}

static int pick(int n, uint32_t ch)
{
    struct lb_pick p = fixture_pick(n);

    p.client_hash = ch;
    return balancer_pick(&bal, &p);
}

static void test_fnv1a_vectors(void **state)
{
    (void)state;
    assert_int_equal(balancer_hash(NULL, 0), 0x811c9dc5u);
    assert_int_equal(balancer_hash("a", 1), 0xe40c292cu);
    assert_int_equal(balancer_hash("foobar", 6), 0xbf9cf968u);
}

static void test_same_client_same_backend(void **state)
{
    (void)state;
    assert_string_equal(bal.ops->name, "ip-hash");
    for (int c = 0; c < 200; c++) {
        int first = pick(3, client(c));
        assert_in_range(first, 0, 2);
        for (int k = 0; k < 5; k++)
            assert_int_equal(pick(3, client(c)), first);
    }
}

/* Even within +-15% over 3 backends, and over 4. */
static void test_distribution(void **state)
{
    (void)state;
    for (int n = 3; n <= 4; n++) {
        int count[NB] = {0};
        int even = CLIENTS / n;
        for (int c = 0; c < CLIENTS; c++)
            count[pick(n, client(c))]++;
        for (int i = 0; i < n; i++)
            assert_in_range(count[i], even * 85 / 100, even * 115 / 100);
    }
}

/* Backend 1 goes down: its clients spread over 0 and 2 (both, roughly
 * evenly), everyone else stays put; it comes back: the same clients return
 * and the map is exactly what it was. */
static void test_down_moves_only_its_clients(void **state)
{
    static int before[CLIENTS];
    int moved_to[3] = {0}, owned = 0;

    (void)state;
    for (int c = 0; c < CLIENTS; c++)
        before[c] = pick(3, client(c));
    atomic_store(&be[1].health, BACKEND_DOWN);
    for (int c = 0; c < CLIENTS; c++) {
        int now = pick(3, client(c));
        if (before[c] == 1) {
            owned++;
            assert_true(now == 0 || now == 2);
            moved_to[now]++;
        } else {
            assert_int_equal(now, before[c]);
        }
    }
    assert_true(owned > 0);
    assert_in_range(moved_to[0], owned * 35 / 100, owned * 65 / 100);
    assert_in_range(moved_to[2], owned * 35 / 100, owned * 65 / 100);
    atomic_store(&be[1].health, BACKEND_UP);
    for (int c = 0; c < CLIENTS; c++)
        assert_int_equal(pick(3, client(c)), before[c]);
}

/* Adding a fourth backend takes clients only onto the new one. */
static void test_add_moves_only_to_new(void **state)
{
    static int before[CLIENTS];
    int gained = 0;

    (void)state;
    for (int c = 0; c < CLIENTS; c++)
        before[c] = pick(3, client(c));
    for (int c = 0; c < CLIENTS; c++) {
        int now = pick(4, client(c));
        if (now != before[c]) {
            assert_int_equal(now, 3);
            gained++;
        }
    }
    assert_in_range(gained, CLIENTS / 4 * 85 / 100, CLIENTS / 4 * 115 / 100);
}

/* The choice follows backend names, not positions in the list: a list
 * rebuilt in another order sends every client to the same backend. */
static void test_order_independent(void **state)
{
    static const struct lb_backend *before[CLIENTS];

    (void)state;
    for (int c = 0; c < CLIENTS; c++)
        before[c] = list[pick(3, client(c))];
    struct lb_backend *t = list[0];
    list[0] = list[2];
    list[2] = t;
    for (int c = 0; c < CLIENTS; c++)
        assert_ptr_equal(list[pick(3, client(c))], before[c]);
}

/* A retry (its backend tried) goes to the client's second choice: the one
 * it would get if its first were down. */
static void test_tried_is_second_choice(void **state)
{
    (void)state;
    for (int c = 0; c < 300; c++) {
        uint32_t ch = client(c);
        int first = pick(3, ch);
        struct lb_pick p = fixture_pick(3);
        p.tried = UINT64_C(1) << first;
        p.client_hash = ch;
        int second = balancer_pick(&bal, &p);
        assert_int_not_equal(second, first);
        atomic_store(&be[first].health, BACKEND_DOWN);
        assert_int_equal(pick(3, ch), second);
        atomic_store(&be[first].health, BACKEND_UP);
    }
}

/* The client's backend at maxconn: wait for it (PICK_FULL), even though
 * others have room. */
static void test_full_waits_for_own(void **state)
{
    uint32_t ch = client(7);
    int own = pick(3, ch);
    struct lb_pick p = fixture_pick(3);

    (void)state;
    p.client_hash = ch;
    p.maxconn = 2;
    atomic_store(&be[own].active, 2);
    assert_int_equal(balancer_pick(&bal, &p), PICK_FULL);
    atomic_store(&be[own].active, 1);
    assert_int_equal(balancer_pick(&bal, &p), own);
    /* Full but down: it is not the client's backend any more. */
    atomic_store(&be[own].active, 2);
    atomic_store(&be[own].health, BACKEND_DOWN);
    int other = balancer_pick(&bal, &p);
    assert_in_range(other, 0, 2);
    assert_int_not_equal(other, own);
}

static void test_none(void **state)
{
    (void)state;
    assert_int_equal(pick(0, client(1)), PICK_NONE);
    atomic_store(&be[0].health, BACKEND_DOWN);
    atomic_store(&be[1].admin, ADMIN_DISABLED);
    atomic_store(&be[2].admin, ADMIN_DRAIN); /* no new clients, none sticky */
    for (int c = 0; c < 50; c++)
        assert_int_equal(pick(3, client(c)), PICK_NONE);
    struct lb_pick p = fixture_pick(4);
    p.tried = 1u << 3;
    p.client_hash = client(1);
    assert_int_equal(balancer_pick(&bal, &p), PICK_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fnv1a_vectors, setup),
        cmocka_unit_test_setup(test_same_client_same_backend, setup),
        cmocka_unit_test_setup(test_distribution, setup),
        cmocka_unit_test_setup(test_down_moves_only_its_clients, setup),
        cmocka_unit_test_setup(test_add_moves_only_to_new, setup),
        cmocka_unit_test_setup(test_order_independent, setup),
        cmocka_unit_test_setup(test_tried_is_second_choice, setup),
        cmocka_unit_test_setup(test_full_waits_for_own, setup),
        cmocka_unit_test_setup(test_none, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
