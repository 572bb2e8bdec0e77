#include <nextprism/progress.hpp>

#include <catch2/catch.hpp>

using namespace nextprism;

TEST_CASE("progress: occ files:scan -v entries, counted per line, across chunks")
{
    progress_scanner p;
    CHECK_FALSE(p.feed(output_stream::out, "Starting scan for user 1 out of 1 (alice)\n"));
    CHECK(p.feed(output_stream::out, "\tFolder\t/alice/files\n\tFile\t/alice/files/a.jpg\n\tFi"));
    CHECK(p.current().files == 1);
    CHECK(p.feed(output_stream::out, "le\t/alice/files/b.jpg\n"));
    CHECK(p.current().files == 2);
    CHECK(p.current().folders == 1);
    CHECK(p.current().last == "/alice/files/b.jpg");
    // A file name in a summary table is not an entry.
    CHECK_FALSE(p.feed(output_stream::out, "| Folders | Files | Errors |\n"));
}

TEST_CASE("progress: PhotoPrism's index and import log lines on stderr")
{
    progress_scanner p;
    CHECK_FALSE(p.feed(output_stream::err, "time=\"2026-12-07T04:00:00Z\" level=info msg=\"indexing originals in /photoprism/originals\"\n"));
    CHECK(p.feed(output_stream::err, "time=\"2026-12-07T04:00:01Z\" level=info msg=\"index: added main jpg file 2026/a.jpg\"\n"));
    CHECK(p.feed(output_stream::err, "time=\"2026-12-07T04:00:01Z\" level=info msg=\"index: skipped related json file 2026/a.json\"\n"));
    CHECK(p.feed(output_stream::err, "time=x level=info msg=\"import: moving main jpg file b.jpg to 2026/b.jpg\"\n"));
    CHECK(p.current().files == 3);
    CHECK(p.current().last == "main jpg file b.jpg to 2026/b.jpg");
    // The summary line is not a file; a bare "msg=" in a file's content is not a log line.
    CHECK_FALSE(p.feed(output_stream::err, "time=x level=info msg=\"index: updated 3 files [1.2s]\"\n"));
    CHECK_FALSE(p.feed(output_stream::out, "x msg=\"index: added main jpg file c.jpg\"\n"));
    CHECK(p.current().files == 3);
}

TEST_CASE("progress: a line longer than the buffer counts once, memory stays bounded")
{
    progress_scanner p;
    const std::string huge(3 * progress_scanner::max_line, 'x');
    CHECK_FALSE(p.feed(output_stream::out, "\tFile\t" + huge)); // not ended yet
    CHECK_FALSE(p.feed(output_stream::out, huge));
    CHECK(p.feed(output_stream::out, "\n")); // ends here: one entry
    CHECK(p.current().files == 1);
    CHECK(p.current().last.size() == 256);
}
