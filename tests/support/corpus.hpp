#ifndef NEXTPRISM_TESTS_SUPPORT_CORPUS_HPP
#define NEXTPRISM_TESTS_SUPPORT_CORPUS_HPP

// Reads tests/corpus/commands.tsv: the validator's shared corpus of allowed
// and refused commands, used by the whitelist tests, the validator binary's
// tests and as the fuzzer's seeds.

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nextprism::test {

struct corpus_case
{
    int line = 0;
    std::string service;
    std::string expectation; ///< error name, or "ok"
    std::string argv_json;   ///< for "ok": the canonical argv as JSON
    std::string input;       ///< decoded command string
};

inline std::string decode_escapes(const std::string& s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out.push_back(s[i]);
            continue;
        }
        const char c = s[++i];
        if (c == 'x' && i + 2 < s.size() + 0) {
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else if (c == 't') out.push_back('\t');
        else if (c == 'n') out.push_back('\n');
        else if (c == 'r') out.push_back('\r');
        else if (c == '\\') out.push_back('\\');
        else throw std::runtime_error("bad escape in corpus: " + s);
    }
    return out;
}

inline std::vector<corpus_case> load_corpus()
{
    std::ifstream in(NEXTPRISM_CORPUS_DIR "/commands.tsv");
    if (!in)
        throw std::runtime_error("cannot open corpus");
    std::vector<corpus_case> cases;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty() || line[0] == '#')
            continue;
        const auto t1 = line.find('\t');
        const auto t2 = line.find('\t', t1 + 1);
        if (t1 == std::string::npos || t2 == std::string::npos)
            throw std::runtime_error("corpus line " + std::to_string(number) + " lacks fields");
        corpus_case c;
        c.line = number;
        c.service = line.substr(0, t1);
        std::string expectation = line.substr(t1 + 1, t2 - t1 - 1);
        if (expectation.rfind("ok ", 0) == 0) {
            c.expectation = "ok";
            c.argv_json = expectation.substr(3);
        } else {
            c.expectation = expectation;
        }
        c.input = decode_escapes(line.substr(t2 + 1));
        cases.push_back(std::move(c));
    }
    return cases;
}

} // namespace nextprism::test

#endif
