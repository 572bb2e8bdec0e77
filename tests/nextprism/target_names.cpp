#include <nextprism/target_names.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

using nextprism::target_names;

TEST_CASE("target_names: a service not named is its own target")
{
    const target_names none;
    CHECK(none.of("nextcloud") == "nextcloud");

    target_names t{{"nextcloud", "cloud_app"}};
    CHECK(t.of("nextcloud") == "cloud_app");
    CHECK(t.of("photoprism") == "photoprism");

    t.set("photoprism", "pp_app");
    t.set("nextcloud", "cloud_app_2"); // a second set replaces
    CHECK(t.of("photoprism") == "pp_app");
    CHECK(t.of("nextcloud") == "cloud_app_2");
    CHECK(t.entries().size() == 2);
    CHECK(t == target_names{{"nextcloud", "cloud_app_2"}, {"photoprism", "pp_app"}});
}
