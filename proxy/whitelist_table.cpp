// nextprism-whitelist-table: a build step, not a proxy binary.
//
// Reads the default whitelist's JSON (detail/builtin_whitelist.hpp) with the
// library's own loader and writes a header that constructs the same
// whitelist from constants: the validator runs once per SSH command, and
// parsing the JSON was the largest part of its start-up it could avoid.
// The JSON stays the one source: the header is regenerated whenever the
// JSON (this program's input) changes, and tests/proxy/whitelist_table.cpp
// checks that the table equals what the loader reads. A default that does
// not load fails the build here instead of the proxy's start.
//
//   nextprism-whitelist-table OUTPUT.hpp

#include <nextprism/whitelist.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace {

using namespace nextprism;

/// A C++ string literal whose bytes are exactly `s`: printable ASCII as
/// is, everything else as a three-digit octal escape (which, unlike \x,
/// cannot run into a following digit).
std::string literal(std::string_view s)
{
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u >= 0x20 && u < 0x7f) {
            out += c;
        } else {
            char esc[5];
            std::snprintf(esc, sizeof esc, "\\%03o", u);
            out += esc;
        }
    }
    return out + '"';
}

std::string optional_literal(const std::optional<std::string>& s)
{
    return s ? literal(*s) : "std::nullopt";
}

std::string words(const std::vector<std::string>& ws)
{
    std::string out = "{";
    for (std::size_t i = 0; i < ws.size(); ++i)
        out += (i ? ", " : "") + literal(ws[i]);
    return out + "}";
}

std::string type(value_type t)
{
    // The whitelist-file names are the enumerators' names (value_checks.hpp).
    return "value_type::" + std::string(to_string(t));
}

std::string stream(failure_pattern::stream_kind k)
{
    switch (k) {
    case failure_pattern::stream_kind::any: return "failure_pattern::stream_kind::any";
    case failure_pattern::stream_kind::out: return "failure_pattern::stream_kind::out";
    case failure_pattern::stream_kind::err: return "failure_pattern::stream_kind::err";
    }
    throw std::logic_error("unknown stream kind");
}

/// `T{...}` elements as a vector built by moving them in: a braced list
/// would copy every element, and each of their vectors and strings.
template<class Range, class Element>
std::string moved(std::string_view type, const Range& range, const std::string& indent,
                  Element element)
{
    if (std::empty(range))
        return "{}";
    std::string out = "moved<" + std::string(type) + ">(";
    bool first = true;
    for (const auto& e : range) {
        out += (first ? "\n" : ",\n") + indent + element(e);
        first = false;
    }
    return out + ")";
}

std::string boolean(bool b)
{
    return b ? "true" : "false";
}

/// Every member named, in declaration order (GCC: -Wmissing-field-initializers).
void write(std::ostream& out, const whitelist& rules)
{
    const std::string i2(8, ' '), i3(12, ' '), i4(16, ' '), i5(20, ' '), i6(24, ' ');
    const auto failure = [](const failure_pattern& f) {
        return "failure_pattern{.stream = " + stream(f.stream) + ", .starts_with = " +
               literal(f.starts_with) + ", .contains = " + literal(f.contains) +
               ", .ends_with = " + literal(f.ends_with) + "}";
    };
    const auto option = [](const option_rule& o) {
        return "option_rule{.name = " + literal(o.name) + ", .aliases = " + words(o.aliases) +
               ", .value = " + type(o.value) + ", .choices = " + words(o.choices) +
               ", .base = " + optional_literal(o.base) + ", .idempotent = " + boolean(o.idempotent) +
               "}";
    };
    const auto forbidden = [&](const forbidden_option& f) {
        return "forbidden_option{.name = " + literal(f.name) + ", .aliases = " + words(f.aliases) +
               ",\n" + i6 + "                 .reason = " + literal(f.reason) + "}";
    };
    const auto command = [&](const command_rule& c) {
        const auto& a = c.arguments;
        return "command_rule{\n" +
               i5 + ".argv = " + words(c.argv) + ",\n" +
               i5 + ".options = " + moved("option_rule", c.options, i6, option) + ",\n" +
               i5 + ".forbidden = " + moved("forbidden_option", c.forbidden, i6, forbidden) + ",\n" +
               i5 + ".arguments = {.value = " + type(a.value) + ", .max = " + std::to_string(a.max) +
               ", .base = " + optional_literal(a.base) + ", .reserved = " + words(a.reserved) + "},\n" +
               i5 + ".single_flight = " + boolean(c.single_flight) + ",\n" +
               i5 + ".idempotent = " + boolean(c.idempotent) + ",\n" + i4 + "}";
    };
    const auto exec_user_from = [&](const std::optional<exec_user_rule>& r) -> std::string {
        if (!r)
            return "std::nullopt";
        return "exec_user_rule{.container_user = " + boolean(r->container_user) + ", .uid_env = " +
               words(r->uid_env) + ",\n" + i4 + ".gid_env = " + words(r->gid_env) +
               ", .gid_otherwise = " + optional_literal(r->gid_otherwise) +
               ", .otherwise = " + optional_literal(r->otherwise) + "}";
    };
    const auto service = [&](const service_rule& s) {
        return "service_rule{\n" +
               i3 + ".name = " + literal(s.name) + ",\n" +
               i3 + ".exec_user = " + optional_literal(s.exec_user) + ",\n" +
               i3 + ".exec_user_from = " + exec_user_from(s.exec_user_from) + ",\n" +
               i3 + ".working_dir = " + optional_literal(s.working_dir) + ",\n" +
               i3 + ".failures = " + moved("failure_pattern", s.failures, i4, failure) + ",\n" +
               i3 + ".commands = " + moved("command_rule", s.commands, i4, command) + ",\n" + i2 + "}";
    };
    out << "// Generated by nextprism-whitelist-table (proxy/whitelist_table.cpp) from the\n"
           "// JSON in include/nextprism/detail/builtin_whitelist.hpp, as the library's\n"
           "// loader reads it. Do not edit: edit the JSON, the build regenerates this.\n"
           "#ifndef NEXTPRISM_PROXY_DEFAULT_WHITELIST_TABLE_HPP\n"
           "#define NEXTPRISM_PROXY_DEFAULT_WHITELIST_TABLE_HPP\n\n"
           "#include <nextprism/whitelist.hpp>\n\n"
           "#include <utility>\n"
           "#include <vector>\n\n"
           "namespace nextprism::whitelist_table {\n\n"
           "/// Its elements moved in: a braced list would copy each, deeply.\n"
           "template<class T, class... Elements>\n"
           "std::vector<T> moved(Elements&&... elements)\n{\n"
           "    std::vector<T> v;\n"
           "    v.reserve(sizeof...(elements));\n"
           "    (v.push_back(std::forward<Elements>(elements)), ...);\n"
           "    return v;\n}\n\n"
           "/// The rules of whitelist::builtin(), constructed without parsing.\n"
           "inline whitelist builtin()\n{\n"
           "    return whitelist("
        << moved("service_rule", rules.services(), i2, service)
        << ");\n}\n\n"
           "} // namespace nextprism::whitelist_table\n\n"
           "#endif\n";
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fputs("usage: nextprism-whitelist-table OUTPUT.hpp\n", stderr);
        return 2;
    }
    error_code ec;
    std::string reason;
    const auto rules = whitelist::from_json(whitelist::builtin_json(), ec, reason);
    if (ec) {
        std::fprintf(stderr, "nextprism-whitelist-table: the default whitelist does not load: %s\n",
                     reason.c_str());
        return 1;
    }
    // Written aside and renamed: a failed run never leaves half a header.
    const std::string path = argv[1], part = path + ".part";
    {
        std::ofstream out(part, std::ios::trunc);
        write(out, rules);
        if (!out.flush()) {
            std::fprintf(stderr, "nextprism-whitelist-table: cannot write %s\n", part.c_str());
            return 1;
        }
    }
    if (std::rename(part.c_str(), path.c_str()) != 0) {
        std::perror("nextprism-whitelist-table: rename");
        return 1;
    }
    return 0;
}
