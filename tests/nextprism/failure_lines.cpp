#include <nextprism/failure_lines.hpp> // first: the header is self-contained

#include <nextprism/whitelist.hpp>

#include <catch2/catch.hpp>

using nextprism::whitelist;
using nextprism::failure_scanner;
using nextprism::output_stream;

namespace {

const nextprism::service_rule& service(std::string_view name)
{
    return *whitelist::builtin().find_service(name);
}

} // namespace

TEST_CASE("photoprism: logrus error and fatal lines, text and terminal forms, on stderr only")
{
    failure_scanner scan(service("photoprism").failures);
    scan.feed(output_stream::err, "time=\"2025-01-02T03:04:05Z\" level=info msg=\"indexing\"\n");
    scan.feed(output_stream::out, "time=\"2025-01-02T03:04:05Z\" level=error msg=\"on stdout\"\n");
    CHECK(scan.lines().empty());
    scan.feed(output_stream::err, "time=\"2025-01-02T03:04:05Z\" level=error msg=\"index: directory "
                                  "/photoprism/originals/x not found\"\n");
    scan.feed(output_stream::err, "FATA[0000] cannot open database\n");
    REQUIRE(scan.lines().size() == 2);
    CHECK(scan.lines()[0] == "time=\"2025-01-02T03:04:05Z\" level=error msg=\"index: directory "
                             "/photoprism/originals/x not found\"");
    CHECK(scan.lines()[1] == "FATA[0000] cannot open database");
}

TEST_CASE("lines are joined across chunks and streams are kept apart")
{
    failure_scanner scan(service("photoprism").failures);
    scan.feed(output_stream::err, "time=\"t\" lev");
    scan.feed(output_stream::out, "stdout text without newline ");
    scan.feed(output_stream::err, "el=error msg=\"x\"\r\nINFO[0000] ok\n");
    scan.feed(output_stream::out, "level=error \n");
    REQUIRE(scan.lines().size() == 1);
    CHECK(scan.lines()[0] == "time=\"t\" level=error msg=\"x\"");
}

TEST_CASE("a last line without a newline is judged at finish")
{
    failure_scanner scan(service("photoprism").failures);
    scan.feed(output_stream::err, "ERRO[0001] import: x not found");
    CHECK(scan.lines().empty());
    scan.finish();
    CHECK(scan.lines().size() == 1);
}

TEST_CASE("occ: unknown users are failures although files:scan exits 0")
{
    failure_scanner scan(service("nextcloud").failures);
    scan.feed(output_stream::out, "Starting scan for user 1 out of 2 (alice)\n"
                                  "Unknown user 2 ghost\n"
                                  "User bob not found\n"
                                  "User bob found\n");
    REQUIRE(scan.lines().size() == 2);
    CHECK(scan.lines()[0] == "Unknown user 2 ghost");
    CHECK(scan.lines()[1] == "User bob not found");
}

TEST_CASE("memory stays bounded: long lines are cut, at most max_kept lines kept")
{
    failure_scanner scan(service("photoprism").failures);
    const std::string huge = "ERRO[0000] " + std::string(1 << 20, 'x');
    for (int i = 0; i < 100; ++i) {
        // in pieces, as output arrives
        for (std::size_t at = 0; at < huge.size(); at += 4096)
            scan.feed(output_stream::err, std::string_view(huge).substr(at, 4096));
        scan.feed(output_stream::err, "\n");
    }
    CHECK(scan.count() == 100);
    REQUIRE(scan.lines().size() == failure_scanner::max_kept);
    CHECK(scan.lines()[0].size() == failure_scanner::max_line);
}

TEST_CASE("no patterns: nothing is scanned")
{
    failure_scanner scan;
    scan.feed(output_stream::err, "ERRO[0000] x\n");
    scan.finish();
    CHECK(scan.lines().empty());
}

TEST_CASE("the exit status a tool passes on")
{
    nextprism::command_result r;
    r.exit_code = 0;
    CHECK(nextprism::caller_exit_status(r) == 0);
    CHECK(r.succeeded());
    r.failure_lines = {"ERRO[0000] x"};
    CHECK(nextprism::caller_exit_status(r) == nextprism::reported_failure);
    CHECK_FALSE(r.succeeded());
    r.exit_code = 3; // the command's own non-zero status is kept
    CHECK(nextprism::caller_exit_status(r) == 3);
}
