#include <nextprism/wire/exit_status.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace nextprism;
namespace exit_code = nextprism::proxy_exit_code;

namespace {

proxy_stderr received(std::initializer_list<std::string_view> chunks)
{
    proxy_stderr err;
    for (auto c : chunks)
        err.feed(c);
    err.finish([](std::string_view) {});
    return err;
}

/// What a client passes on of stderr fed in `chunks`.
std::string passed_on(proxy_stderr& err, std::initializer_list<std::string_view> chunks)
{
    std::string out;
    const auto pass = [&out](std::string_view d) { out += d; };
    for (auto c : chunks)
        err.feed(c, pass);
    err.finish(pass);
    return out;
}

} // namespace

TEST_CASE("proxy exit table: every status has its own error, and encoding undoes decoding")
{
    std::set<int> statuses;
    std::set<int> errors;
    const auto line = received({"nextprism: error: something\n"});
    for (const auto& row : proxy_exit_table) {
        INFO("exit " << row.status);
        CHECK(statuses.insert(row.status).second);
        CHECK(errors.insert(static_cast<int>(row.code)).second);
        CHECK(from_exit_status(row.status, 0, line) == row.code);
        CHECK(to_exit_status(row.code) == row.status);
    }
    CHECK(statuses == std::set<int>{64, 65, 66, 69, 70, 74, 75, 76, 124});
    CHECK_FALSE(from_exit_status(0, 0, line));
    CHECK_FALSE(from_exit_status(1, 0, line));
}

TEST_CASE("proxy exit table: how the client reacts to each")
{
    const auto line = received({"nextprism: x\n"});
    auto decoded = [&](int status) { return from_exit_status(status, 0, line); };
    CHECK(decoded(exit_code::refused) == condition::rejected); // never retried
    CHECK(decoded(exit_code::usage) == condition::permanent);
    CHECK(decoded(exit_code::busy) == condition::transient);
    CHECK(decoded(exit_code::target_missing) == condition::transient);
    CHECK(decoded(exit_code::internal) == condition::permanent);
    CHECK(decoded(exit_code::audit_failed) == condition::transient); // nothing ran; a blocked sink recovers
    CHECK(decoded(exit_code::engine_error) == condition::transient);
    CHECK(decoded(exit_code::timeout) == error::timeout);
}

TEST_CASE("proxy exit table: the validator's own failures map onto the table")
{
    CHECK(to_exit_status(error::target_not_running) == exit_code::target_missing);
    CHECK(to_exit_status(error::command_not_allowed) == exit_code::refused);
    CHECK(to_exit_status(error::invalid_value) == exit_code::refused);
    CHECK(to_exit_status(error::invalid_whitelist) == exit_code::usage);
    CHECK(to_exit_status(error::internal_error) == exit_code::internal);
    CHECK(to_exit_status(error::protocol_error) == exit_code::engine_error);
    CHECK(to_exit_status(error::outcome_unknown) == exit_code::engine_error);
}

TEST_CASE("proxy exit line: one line whatever the reason quotes")
{
    CHECK(proxy_exit_line("refused", "bad\nvalue\r") == "nextprism: refused: bad value \n");
    CHECK(proxy_exit_line("busy") == "nextprism: busy\n");
    proxy_stderr err;
    err.feed(proxy_exit_line("refused", std::string(2000, 'x'))); // longer than the kept prefix
    CHECK(err.is_proxy_line());
    CHECK(err.prefix().size() == proxy_stderr::max_prefix);
    CHECK(err.bytes() == 2000 + 21);
}

TEST_CASE("proxy exit: only exactly the proxy's one stderr line and an empty stdout decode")
{
    const auto one = received({"nextprism: ", "busy: another run\n"}); // in pieces
    CHECK(from_exit_status(exit_code::busy, 0, one) == error::busy);
    CHECK_FALSE(from_exit_status(exit_code::busy, 1, one)); // stdout was written
    CHECK_FALSE(from_exit_status(exit_code::busy, 0, proxy_stderr{})); // nothing on stderr
    // PhotoPrism logs on stderr only: its stdout is empty too.
    CHECK_FALSE(from_exit_status(
        exit_code::busy, 0, received({"time=\"2026-12-01T10:00:00Z\" level=error msg=\"locked\"\n"})));
    CHECK_FALSE(from_exit_status(exit_code::busy, 0, received({"nextprism: x\n", "level=error\n"})));
    CHECK_FALSE(from_exit_status(exit_code::busy, 0, received({"level=error\n", "nextprism: x\n"})));
    CHECK_FALSE(from_exit_status(exit_code::busy, 0, received({"nextprism: no line break"})));
    CHECK_FALSE(from_exit_status(exit_code::busy, 0, received({"nextprism:x\n"})));
}

TEST_CASE("start line: taken out of stderr, in pieces or not; its absence means nothing started")
{
    const auto start = proxy_start_line("cloud_app.1.abc", "0123456789abcdef0123");
    CHECK(start == "nextprism: running in cloud_app.1.abc (exec 0123456789ab)\n");

    proxy_stderr err;
    const auto rest = passed_on(err, {start.substr(0, 5), start.substr(5) + "level=error msg=x\n", "more\n"});
    CHECK(rest == "level=error msg=x\nmore\n");
    CHECK(err.started());
    CHECK(std::string(err.started_in()) == "cloud_app.1.abc (exec 0123456789ab)"); // Catch2 v2 under clang prints no string_view
    CHECK(err.start_line_size() == start.size());
    CHECK(err.bytes() == rest.size());

    // Started, then the proxy's own exit: exactly one line after the start line.
    proxy_stderr timed_out;
    CHECK(passed_on(timed_out, {start, "nextprism: error: timed out after 5 s; the command was stopped\n"}) ==
          "nextprism: error: timed out after 5 s; the command was stopped\n");
    CHECK(timed_out.started());
    CHECK(from_exit_status(exit_code::timeout, 0, timed_out) == error::timeout);

    // An engine error before the start: no start line, so nothing ran.
    proxy_stderr before;
    CHECK(passed_on(before, {"nextprism: error: docker engine error\n"}) == "nextprism: error: docker engine error\n");
    CHECK_FALSE(before.started());
    CHECK(from_exit_status(exit_code::engine_error, 0, before) == error::engine_error);

    // Only the first line can be the start line; other stderr passes whole.
    proxy_stderr later;
    CHECK(passed_on(later, {"level=info msg=a\n", start}) == "level=info msg=a\n" + start);
    CHECK_FALSE(later.started());
    // A first line that never ends is passed on at the end.
    proxy_stderr partial;
    CHECK(passed_on(partial, {"nextprism: running in x"}) == "nextprism: running in x");
    CHECK_FALSE(partial.started());
    // A first line longer than the kept prefix is passed on whole.
    proxy_stderr longline;
    const std::string big = std::string(proxy_exit_code::start_prefix) + std::string(1000, 'x') + "\n";
    CHECK(passed_on(longline, {big}) == big);
    CHECK_FALSE(longline.started());
}

TEST_CASE("proxy_reply: the start is reported once, before the stderr that came with its line")
{
    std::vector<std::string> events;
    proxy_reply reply([&](output_stream s, std::string_view d) { events.push_back((s == output_stream::err ? "err " : "out ") + std::string(d)); },
                      [&](const start_report& at) { events.push_back("started " + at.container + " " + at.exec_id); });
    SECTION("the start line and the command's first stderr in one chunk")
    {
        reply(output_stream::err, proxy_start_line("app.1.x", "0123456789abcdef") + "warning: slow\n");
        reply(output_stream::err, "more\n");
        REQUIRE(events.size() == 3);
        CHECK(events[0] == "started app.1.x 0123456789ab");
        CHECK(events[1] == "err warning: slow\n");
        CHECK(events[2] == "err more\n");
    }
    SECTION("the start line in pieces: reported when it is whole")
    {
        const auto line = proxy_start_line("app.1.x", "0123456789abcdef");
        reply(output_stream::err, line.substr(0, 10));
        CHECK(events.empty());
        reply(output_stream::err, line.substr(10));
        REQUIRE(events.size() == 1);
        CHECK(events[0] == "started app.1.x 0123456789ab");
    }
    SECTION("no start line: never reported, the stderr passes on")
    {
        reply(output_stream::err, "nextprism: busy: try again\n");
        REQUIRE(events.size() == 1);
        CHECK(events[0] == "err nextprism: busy: try again\n");
    }
}
