/* test_core.c — status names, error messages, versions. */
#include "check.h"
#include "core/internal.h"

TEST(status_names_are_unique_and_total)
{
    for (int i = 0; i < QTIP_STATUS_COUNT_; i++) {
        CHECK(strcmp(qtip_status_name((qtip_status)i), "unknown status") != 0, "status %d", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(qtip_status_name((qtip_status)i), qtip_status_name((qtip_status)j)) != 0,
                  "%d and %d share a name", i, j);
    }
    CHECK(strcmp(qtip_status_name((qtip_status)999), "unknown status") == 0, "out of range");
}

TEST(error_messages_format_and_prefix)
{
    qtip_status s = qtip_error(QTIP_E_SHAPE, "tensor '%s' has %d dims", "w", 3);
    CHECK(s == QTIP_E_SHAPE, "returned status");
    CHECK(strncmp(qtip_last_error(), "tensor 'w' has 3 dims", 21) == 0, "got '%s'", qtip_last_error());
    qtip_error_prefix("cannot read '%s'", "a.safetensors");
    CHECK(strncmp(qtip_last_error(), "cannot read 'a.safetensors': tensor 'w'", 39) == 0, "got '%s'",
          qtip_last_error());
    qtip_clear_error();
    CHECK(qtip_last_error()[0] == 0, "cleared");
}

TEST(version_agrees)
{
    CHECK(strcmp(qtip_version_string(), QTIP_VERSION_STRING) == 0, "string");
}

TEST(alloc_overflow_is_reported)
{
    void *p = qtip_alloc(SIZE_MAX / 2, 4, "huge buffer");
    CHECK(p == NULL, "overflowing allocation must fail");
    CHECK(strstr(qtip_last_error(), "huge buffer") != NULL, "message names it: '%s'", qtip_last_error());
    p = qtip_alloc(3, 5, "small");
    CHECK(p != NULL && ((uintptr_t)p & 63) == 0, "aligned");
    free(p);
}

int main(void)
{
    RUN(status_names_are_unique_and_total);
    RUN(error_messages_format_and_prefix);
    RUN(version_agrees);
    RUN(alloc_overflow_is_reported);
    return check_summary();
}
