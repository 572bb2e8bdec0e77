// The stand-ins parse like the real CLIs: each runs in its container through
// the Docker API, as the validator runs it (occ as www-data in
// /var/www/html, photoprism as 1000:1000 in /photoprism), and its call log
// (/tmp/standin-calls.jsonl, one JSON line per call) says what its parser
// (Symfony Console, urfave/cli v1: the real CLIs' own) understood.

#include <nextprism/docker/client.hpp>

#include "support/docker_fixture.hpp"

#include <nlohmann/json.hpp>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct run_result
{
    int exit_code = -1;
    std::string out, err;
    json call; // the stand-in's last call-log line
};

struct standin
{
    io_thread io;
    docker::client client{io.io.get_executor(), engine()};
    scoped_container container;
    std::string user, working_dir;

    standin(const std::string& image, std::string u, std::string wd)
        : container(image, "np-parse"), user(std::move(u)), working_dir(std::move(wd))
    {
    }

    run_result run(std::vector<std::string> argv, std::vector<std::string> env = {},
                   std::optional<std::string> as = std::nullopt)
    {
        run_result r;
        docker::exec_spec spec;
        spec.argv = std::move(argv);
        spec.user = as ? as : std::optional<std::string>(user);
        spec.working_dir = working_dir;
        spec.env = std::move(env);
        auto [ec, result] = wait_for<docker::exec_result>([&](auto h) {
            client.async_exec(
                container.id, spec,
                [&r](docker::output_stream s, std::string_view d) {
                    (s == docker::output_stream::out ? r.out : r.err).append(d);
                },
                30000ms, h);
        });
        REQUIRE_FALSE(ec);
        r.exit_code = result.exit_code;
        auto log = docker_cli({"exec", container.name, "tail", "-n", "1", "/tmp/standin-calls.jsonl"});
        REQUIRE(log.exit_code == 0);
        r.call = json::parse(log.out);
        return r;
    }
};

std::vector<std::string> occ(std::vector<std::string> args)
{
    args.insert(args.begin(), {"php", "occ"});
    return args;
}

std::vector<std::string> photoprism(std::vector<std::string> args)
{
    args.insert(args.begin(), "photoprism");
    return args;
}

} // namespace

TEST_CASE("occ stand-in: Symfony Console's reading of the argv")
{
    standin nc("nextprism/standin-nextcloud:test", "www-data", "/var/www/html");

    SECTION("files:scan: user ids after --, --generate-metadata takes an optional value")
    {
        auto r = nc.run(occ({"files:scan", "--generate-metadata", "--", "alice"}));
        CHECK(r.exit_code == 0);
        CHECK(r.out.starts_with("Starting scan for user 1 out of 1 (alice)\n"));
        CHECK(r.call["uid"] == 33);
        CHECK(r.call["cwd"] == "/var/www/html");
        CHECK(r.call["arguments"]["user_id"] == json::array({"alice"}));
        CHECK(r.call["options"]["generate-metadata"].is_null()); // given, no value

        // Without --, VALUE_OPTIONAL swallows the next word: no user to scan.
        r = nc.run(occ({"files:scan", "--generate-metadata", "alice"}));
        CHECK(r.exit_code == 1);
        CHECK(r.call["options"]["generate-metadata"] == "alice");
        CHECK(r.call["arguments"]["user_id"] == json::array());
        CHECK(r.out.starts_with("Please specify the user id to scan, --all to scan for all users or --path=..."));
    }

    SECTION("files:scan: -p requires a value, --path decides the user, unknown users exit 0")
    {
        auto r = nc.run(occ({"files:scan", "-p", "/alice/files/My Photos", "bob"}));
        CHECK(r.exit_code == 0);
        CHECK(r.call["options"]["path"] == "/alice/files/My Photos");
        CHECK(r.call["scan_users"] == json::array({"alice"}));
        CHECK(r.out.starts_with("Starting scan for user 1 out of 1 (alice)\n"));

        r = nc.run(occ({"files:scan", "-v", "ghost", "alice"}));
        CHECK(r.exit_code == 0);
        CHECK(r.call["options"]["verbose"] == true);
        CHECK(r.out.find("Unknown user 1 ghost\n") != std::string::npos);
        CHECK(r.out.find("\tFile\t/alice/files/My Photos/IMG_0001.jpg\n") != std::string::npos);
        CHECK(r.out.find("| Folders | Files |") != std::string::npos);

        r = nc.run(occ({"files:scan", "--all"}));
        CHECK(r.call["scan_users"] == json::array({"alice", "bob"}));
    }

    SECTION("memories:index: -f is --force, --folder does not exist")
    {
        auto r = nc.run(occ({"memories:index", "-f", "--user=alice", "--path=/Photos"}));
        CHECK(r.exit_code == 0);
        CHECK(r.call["options"]["force"] == true);
        CHECK(r.call["options"]["user"] == "alice");
        CHECK(r.call["index_paths"] == json::array({"/alice/files/Photos"}));

        r = nc.run(occ({"memories:index", "--user=alice", "--folder=/Photos"}));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("The \"--folder\" option does not exist.") != std::string::npos);
        CHECK(r.call["error"] == "The \"--folder\" option does not exist.");

        r = nc.run(occ({"memories:index", "-u", "ghost"}));
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("User ghost not found") != std::string::npos);
    }

    SECTION("status: plain, json, --exit-code")
    {
        auto r = nc.run(occ({"status", "--output=json"}));
        CHECK(r.exit_code == 0);
        CHECK(json::parse(r.out)["installed"] == true);
        r = nc.run(occ({"status", "-e"}), {"NEXTPRISM_OCC_STATE=maintenance"});
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK(r.call["options"]["exit-code"] == true);
        r = nc.run(occ({"--no-warnings", "status", "-e"}), {"NEXTPRISM_OCC_STATE=upgrade"});
        CHECK(r.exit_code == 2);
        CHECK(r.call["options"]["no-warnings"] == true);
    }

    SECTION("root: refused (older Nextcloud) or switched to config.php's owner (current)")
    {
        auto r = nc.run(occ({"status"}), {}, "root");
        CHECK(r.exit_code == 1);
        CHECK(r.out.starts_with("Console has to be executed with the user that owns the file config/config.php\n"
                                "Current user id: 0\nOwner id of config.php: 33\n"));
        r = nc.run(occ({"status"}), {"NEXTPRISM_OCC_ROOT=switch"}, "root");
        CHECK(r.exit_code == 0);
        CHECK(r.call["switched_to"]["uid"] == 33);
    }
}

TEST_CASE("photoprism stand-in: urfave/cli v1's reading of the argv")
{
    standin pp("nextprism/standin-photoprism:test", "1000:1000", "/photoprism");

    SECTION("import: the source is made absolute against the working directory")
    {
        auto r = pp.run(photoprism({"import", "--dest=2024", "--", "/photoprism/import/upload"}));
        CHECK(r.exit_code == 0);
        CHECK(r.call["command"] == "import");
        CHECK(r.call["flags"]["dest"] == "2024");
        CHECK(r.call["paths"]["source"] == "/photoprism/import/upload");
        CHECK(r.call["paths"]["dest"] == "/photoprism/originals/2024");
        CHECK(r.err.find("level=info msg=\"moving media files from /photoprism/import/upload to "
                         "/photoprism/originals/2024\"") != std::string::npos);
        CHECK(r.call["moved"].size() == 2);

        r = pp.run(photoprism({"mv", "-d", "phone"})); // no source: the import path
        CHECK(r.call["paths"]["source"] == "/photoprism/import");
        CHECK(r.call["paths"]["dest"] == "/photoprism/originals/phone");

        r = pp.run(photoprism({"import", " ."})); // TrimSpace, then filepath.Abs
        CHECK(r.exit_code == 0);
        CHECK(r.call["uid"] == 1000);
        CHECK(r.call["paths"]["source"] == "/photoprism");
    }

    SECTION("import: --move is not a flag: Incorrect Usage, logged as an error, exit 0")
    {
        auto r = pp.run(photoprism({"import", "--move", "upload"}));
        CHECK(r.exit_code == 0);
        CHECK(r.out.starts_with("Incorrect Usage: flag provided but not defined: -move\n"));
        CHECK(r.err.find(" level=error msg=\"flag provided but not defined: -move\"") != std::string::npos);
        CHECK(r.call["error"] == "flag provided but not defined: -move");
    }

    SECTION("index: flags and a relative subfolder under the originals")
    {
        auto r = pp.run(photoprism({"index", "-f", "--cleanup", "2024/Summer Trip"}));
        CHECK(r.exit_code == 0);
        CHECK(r.call["flags"]["force"] == true);
        CHECK(r.call["flags"]["cleanup"] == true);
        CHECK(r.call["paths"]["index"] == "/photoprism/originals/2024/Summer Trip");
        CHECK(r.call["indexed"].size() == 2);

        r = pp.run(photoprism({"index", "missing"}));
        CHECK(r.exit_code == 0);
        CHECK(r.err.find(" level=error msg=\"index: directory /photoprism/originals/missing not found\"") !=
              std::string::npos);
    }

    SECTION("status prints operational; an unknown command exits 3")
    {
        auto r = pp.run(photoprism({"status"}));
        CHECK(r.exit_code == 0);
        CHECK(r.out == "operational\n");
        r = pp.run(photoprism({"foo"}));
        CHECK(r.exit_code == 3);
        CHECK(r.err.find("No help topic for 'foo'") != std::string::npos);
    }
}
