#ifndef NEXTPRISM_DETAIL_SCHEMA_HPP
#define NEXTPRISM_DETAIL_SCHEMA_HPP

// The one reader of JSON schemas (whitelist files, the executor's
// configuration): strict about keys and types, and every problem named
// by one key-path format, "a.b[2].c: what".

#include <nextprism/detail/json.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace nextprism::detail {

/// Where a value is in a document: object keys joined by '.', array
/// elements as "[i]"; empty is the top level.
class key_path
{
public:
    key_path() = default;

    /// The member `key` of the object here.
    key_path operator/(std::string_view key) const
    {
        return key_path(text_.empty() ? std::string(key) : text_ + "." + std::string(key));
    }

    /// The element `i` of the array here.
    key_path operator[](std::size_t i) const
    {
        return key_path(text_ + "[" + std::to_string(i) + "]");
    }

    /// "a.b[2].c", or "(top level)".
    std::string str() const { return text_.empty() ? "(top level)" : text_; }

private:
    explicit key_path(std::string text) : text_(std::move(text)) {}

    std::string text_;
};

/// A schema problem; turned into an error code by `read_json`.
struct schema_error : std::runtime_error
{
    schema_error(const key_path& where, std::string_view what)
        : std::runtime_error(where.str() + ": " + std::string(what))
    {
    }
};

[[noreturn]] inline void schema_fail(const key_path& where, std::string_view what)
{
    throw schema_error(where, what);
}

/// `f(element, path)` for each element of the array `j`; anything else
/// is refused with `what`.
template<class F>
void each_element(const nlohmann::json& j, const key_path& path, F f,
                  std::string_view what = "expected an array")
{
    if (!j.is_array())
        schema_fail(path, what);
    for (std::size_t i = 0; i < j.size(); ++i)
        f(j[i], path[i]);
}

/** One JSON object of a schema. Each key is looked up by `find` (or a
    `read`), which marks it known; unknown keys are refused either up
    front (`only`) or after reading (`finish`). */
class schema_object
{
public:
    schema_object(const nlohmann::json& j, key_path path) : json_(j), path_(std::move(path))
    {
        if (!json_.is_object())
            schema_fail(path_, "expected an object");
    }

    const nlohmann::json& json() const noexcept { return json_; }
    const key_path& path() const noexcept { return path_; }
    key_path at(std::string_view key) const { return path_ / key; }

    [[noreturn]] void fail(std::string_view key, std::string_view what) const
    {
        schema_fail(at(key), what);
    }

    /// Refuses, now, every key not in `keys`.
    void only(std::initializer_list<std::string_view> keys) const
    {
        for (const auto& [key, _] : json_.items())
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                fail(key, "unknown key");
    }

    /// Refuses every key nobody looked up.
    void finish() const
    {
        for (const auto& [key, _] : json_.items())
            if (!seen_.contains(key))
                fail(key, "unknown key");
    }

    const nlohmann::json* find(std::string_view key)
    {
        seen_.insert(std::string(key));
        const auto it = json_.find(key);
        return it == json_.end() ? nullptr : &*it;
    }

    /// The value at `key`; "missing" (with `note` in parentheses) without it.
    const nlohmann::json& required(std::string_view key, std::string_view note = {})
    {
        if (auto v = find(key))
            return *v;
        fail(key, note.empty() ? std::string("missing") : "missing (" + std::string(note) + ")");
    }

    void read(std::string_view key, bool& out)
    {
        if (auto v = find(key)) {
            if (!v->is_boolean())
                fail(key, "expected true or false");
            out = v->get<bool>();
        }
    }

    void read(std::string_view key, std::string& out)
    {
        if (auto v = find(key)) {
            if (!v->is_string())
                fail(key, "expected a string");
            out = v->get<std::string>();
        }
    }

    template<class Int>
        requires std::is_integral_v<Int>
    void read(std::string_view key, Int& out, Int low = std::numeric_limits<Int>::min(),
              Int high = std::numeric_limits<Int>::max())
    {
        if (auto v = find(key)) {
            if (!v->is_number_integer())
                fail(key, "expected an integer");
            const auto n = v->get<std::int64_t>();
            if (n < static_cast<std::int64_t>(low) ||
                static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(high) ||
                (n < 0 && std::is_unsigned_v<Int>))
                fail(key, "out of range [" + std::to_string(low) + ", " + std::to_string(high) + "]");
            out = static_cast<Int>(n);
        }
    }

    void read(std::string_view key, double& out, double low, double high)
    {
        if (auto v = find(key)) {
            if (!v->is_number())
                fail(key, "expected a number");
            const double d = v->get<double>();
            if (!(d >= low && d <= high))
                fail(key, "out of range");
            out = d;
        }
    }

    /// Milliseconds, 0 .. 30 days.
    void read(std::string_view key, std::chrono::milliseconds& out)
    {
        std::int64_t ms = out.count();
        read<std::int64_t>(key, ms, 0, std::int64_t(30) * 24 * 3600 * 1000);
        out = std::chrono::milliseconds(ms);
    }

    /// One of the strings of `names`, as its value.
    template<class Enum, std::size_t N>
    void read_enum(std::string_view key, Enum& out, const std::pair<const char*, Enum> (&names)[N])
    {
        if (auto v = find(key)) {
            std::string list;
            for (const auto& [name, value] : names) {
                if (v->is_string() && v->get<std::string>() == name) {
                    out = value;
                    return;
                }
                list += (list.empty() ? "" : ", ") + std::string(name);
            }
            fail(key, "expected one of " + list);
        }
    }

    /// An object of strings.
    void read(std::string_view key, std::map<std::string, std::string>& out)
    {
        if (auto v = find(key)) {
            const schema_object o(*v, at(key));
            for (const auto& [name, value] : v->items()) {
                if (!value.is_string())
                    o.fail(name, "expected a string");
                out[name] = value.get<std::string>();
            }
        }
    }

    /// An object of milliseconds by name, each 0 .. 30 days; merged into `out`.
    void read(std::string_view key, std::map<std::string, std::chrono::milliseconds, std::less<>>& out)
    {
        if (auto v = find(key)) {
            if (!v->is_object())
                fail(key, "expected an object");
            schema_object o(*v, at(key));
            for (const auto& [name, value] : v->items()) {
                auto ms = std::chrono::milliseconds(0);
                o.read(name, ms);
                out[name] = ms;
            }
        }
    }

    /// A nested object: `f(schema_object&)`, then unknown keys are refused.
    template<class F>
    void nested(std::string_view key, F f)
    {
        if (auto v = find(key)) {
            schema_object o(*v, at(key));
            f(o);
            o.finish();
        }
    }

    /// A key that used to live here: refused with where it went.
    void moved(std::string_view key, std::string_view to)
    {
        if (find(key))
            fail(key, "moved to " + std::string(to));
    }

private:
    const nlohmann::json& json_;
    key_path path_;
    std::set<std::string, std::less<>> seen_;
};

/** Parses `text` and reads it with `read(const nlohmann::json&)`. A syntax
    error or a schema problem sets `ec` to `kind` and `reason` to where it
    is, and returns a default value. */
template<class Read>
auto read_json(std::string_view text, error kind, error_code& ec, std::string& reason, Read read)
    -> decltype(read(std::declval<const nlohmann::json&>()))
{
    ec = {};
    reason.clear();
    const auto root = parse_json(text, kind, ec, reason);
    if (!root)
        return {};
    try {
        return read(*root);
    } catch (const schema_error& e) {
        reason = e.what();
    } catch (const nlohmann::json::exception& e) {
        reason = e.what();
    }
    ec = kind;
    return {};
}

} // namespace nextprism::detail

#endif
