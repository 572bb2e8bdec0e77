// Writes each command of tests/corpus/commands.tsv into its own file: the
// fuzzer's seeds. Also creates the (kept) working corpus directory.
#include "support/corpus.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::cerr << "usage: fuzz_write_seeds SEED_DIR WORK_DIR\n";
        return 2;
    }
    std::filesystem::create_directories(argv[1]);
    std::filesystem::create_directories(argv[2]);
    int n = 0;
    for (const auto& c : nextprism::test::load_corpus()) {
        std::ofstream out(std::filesystem::path(argv[1]) / ("line" + std::to_string(c.line)),
                          std::ios::binary);
        out << c.input;
        ++n;
    }
    std::cout << "wrote " << n << " seeds\n";
    return n > 100 ? 0 : 1;
}
