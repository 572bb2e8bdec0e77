#include <nextprism/exec_user.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

using namespace nextprism;

namespace {

// The built-in rules (detail/builtin_whitelist.hpp), as whitelist.cpp checks they load.
const exec_user_rule photoprism{.container_user = true,
                                .uid_env = {"PHOTOPRISM_UID", "PUID"},
                                .gid_env = {"PHOTOPRISM_GID", "GID", "PGID"},
                                .gid_otherwise = "1000"};
const exec_user_rule nextcloud{.container_user = true, .otherwise = "www-data"};

std::string chosen(const exec_user_rule& rule, std::string_view user, std::vector<std::string> env)
{
    return choose_exec_user(rule, user, env).describe();
}

} // namespace

TEST_CASE("exec user: PhotoPrism's entrypoint, case by case")
{
    // Started as root with no variable: root, the container's own user.
    CHECK(chosen(photoprism, "", {"PATH=/bin"}) == "the container's user (the container's)");
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=1000", "PHOTOPRISM_GID=1000"}) ==
          "1000:1000 (PHOTOPRISM_UID:PHOTOPRISM_GID)");
    // The fallbacks, each only when those before it are unset.
    CHECK(chosen(photoprism, "", {"PUID=1001", "PGID=1002"}) == "1001:1002 (PUID:PGID)");
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=1001", "GID=1005", "PGID=1002"}) == "1001:1005 (PHOTOPRISM_UID:GID)");
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=", "PUID=1001"}) == "1001:1000 (PUID)"); // empty is unset
    // A uid alone takes group 1000, as `useradd -g 1000` does there.
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=1003"}) == "1003:1000 (PHOTOPRISM_UID)");
    // The first variable set decides: 0 (or not a number) is root, the fallback does not count.
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=0", "PUID=1004"}) == "the container's user (the container's)");
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=abc", "PUID=1004"}) == "the container's user (the container's)");
    // A later variable counts only with a number above 0.
    CHECK(chosen(photoprism, "", {"PUID=0"}) == "the container's user (the container's)");
    CHECK(chosen(photoprism, "", {"PUID=x1"}) == "the container's user (the container's)");
    // A group without a uid is never used.
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_GID=1000"}) == "the container's user (the container's)");
    // The last of a repeated name wins, as in a process's environment.
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UID=1", "PHOTOPRISM_UID=1006"}) == "1006:1000 (PHOTOPRISM_UID)");
    // A name is matched whole: PHOTOPRISM_UIDX is not PHOTOPRISM_UID.
    CHECK(chosen(photoprism, "", {"PHOTOPRISM_UIDX=1007"}) == "the container's user (the container's)");
    // Started as a user: that user, whatever the variables say.
    CHECK(chosen(photoprism, "1234:1235", {"PHOTOPRISM_UID=1000"}) == "the container's user (Config.User)");
    CHECK(chosen(photoprism, "photoprism", {}) == "the container's user (Config.User)");
    // Started as root, spelled any way: the variables decide.
    for (const auto* root : {"", "root", "0", "0:0", "root:root", "00"})
        CHECK(chosen(photoprism, root, {"PUID=1008"}) == "1008:1000 (PUID)");
}

TEST_CASE("exec user: Nextcloud runs as config.php's owner")
{
    CHECK(chosen(nextcloud, "", {}) == "www-data (otherwise)");
    CHECK(chosen(nextcloud, "root", {}) == "www-data (otherwise)");
    CHECK(chosen(nextcloud, "33:33", {}) == "the container's user (Config.User)");
    CHECK(chosen(nextcloud, "1000", {"PUID=5"}) == "the container's user (Config.User)");
    // Without container_user, Config.User does not count.
    const exec_user_rule fixed_otherwise{.otherwise = "www-data"};
    CHECK(chosen(fixed_otherwise, "1000", {}) == "www-data (otherwise)");
}

TEST_CASE("exec user: the rule in one line")
{
    CHECK(describe(photoprism) ==
          "Config.User when not root, else PHOTOPRISM_UID|PUID[:PHOTOPRISM_GID|GID|PGID, else 1000], "
          "else the container's user");
    CHECK(describe(nextcloud) == "Config.User when not root, else www-data");
    const exec_user_rule uid_only{.uid_env = {"PUID"}};
    CHECK(describe(uid_only) == "PUID, else the container's user");
}
